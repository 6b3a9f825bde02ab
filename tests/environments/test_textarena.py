"""TextArena adapter: hand-played games (TicTacToe, Kuhn Poker, Connect Four, Nim) with their
returns, invalid moves that leave the game unchanged, brackets, determinism and RNG isolation,
the turn cap, the checker, GameArena play with scripted policies, and lazy import/errors."""

import asyncio
import pickle
import random
import subprocess
import sys

import pytest

ta = pytest.importorskip("textarena")

from textarena.envs.registration import ENV_REGISTRY, EnvSpec  # noqa: E402
from textarena.envs.TicTacToe.env import TicTacToeEnv  # noqa: E402
from textarena.wrappers import ActionFormattingWrapper, LLMObservationWrapper  # noqa: E402

from sparring.agents.policies import RandomPolicy, ScriptedPolicy  # noqa: E402
from sparring.agents.roles import Role  # noqa: E402
from sparring.arenas.game_arena import GameArena  # noqa: E402
from sparring.environments import IllegalAction, check, make, names  # noqa: E402
from sparring.environments.textarena_adapter import TextArenaGame  # noqa: E402


def play(env_id, moves, seed=0, **options):
    g = make(f"textarena:{env_id}", **options)
    g.reset(seed=seed)
    for m in moves:
        g.step(m)
    return g


def snapshot(g):
    return (g.turn, g.current_player, g.legal_actions(), [g.observation(p) for p in range(g.num_players)],
            g.info, g.private_info(0))


# ----- registry and declared properties ---------------------------------------------------------
def test_make_by_prefix_and_names_lists_only_concrete_games():
    g = make("textarena:TicTacToe-v0")
    assert isinstance(g, TextArenaGame) and g.name == "textarena:TicTacToe-v0"
    assert (g.num_players, g.zero_sum, g.max_turns) == (2, True, 200)
    assert not any(n.startswith("textarena") for n in names())
    with pytest.raises(KeyError, match="TicTacToe-v0"):
        make("textarena:TicTacToe-v9")  # close matches are named
    with pytest.raises(ValueError, match="bad options"):
        make("textarena:TicTacToe-v0", board=4)


def test_declared_properties_per_env():
    solo = make("textarena:GuessTheNumber-v0")
    assert (solo.num_players, solo.zero_sum) == (1, False)
    assert make("textarena:Poker-v0-small").zero_sum is False  # multi-player state: not inferred
    assert make("textarena:KuhnPoker-v0", zero_sum=False).zero_sum is False
    assert make("textarena:TicTacToe-v0", max_turns=7).max_turns == 7
    assert make("textarena:PigDice-v0-long").max_turns == 2 * 500  # from the env's own limit


# ----- hand-played games -------------------------------------------------------------------------
def test_tictactoe_hand_played_win_and_observations():
    # TextArena: player 0 is 'O' and moves first; 0-1-2 is the top row.
    g = play("TicTacToe-v0", ["0", "3", "1", "4"])
    assert g.current_player == 0 and g.returns() == [0.0, 0.0] and not g.done
    assert g.legal_actions() == ["2", "5", "6", "7", "8"]
    mover = g.observation(0)
    assert "You are Player 0 in Tic Tac Toe" in mover and "Player 1 placed their symbol (X) in cell 4." in mover
    assert mover.endswith("Legal actions: [2] [5] [6] [7] [8]")
    other = g.observation(1)
    assert "You are Player 1 in Tic Tac Toe" in other and "Legal actions" not in other
    g.step("2")
    assert g.done and g.current_player is None and g.returns() == [1.0, -1.0] and g.turn == 5
    assert g.info["players"][0]["reason"] == "Player 0 has won!" and not g.info["turn_cap"]


def test_tictactoe_draw():
    g = play("TicTacToe-v0", ["0", "1", "2", "4", "3", "5", "7", "6", "8"])
    assert g.done and g.returns() == [0.0, 0.0]


def test_kuhn_poker_showdown_and_fold_pay_the_right_player():
    for seed in range(6):
        g = play("KuhnPoker-v0", [], seed=seed, max_rounds=1)
        cards = g._base.state.game_state["player_cards"]
        first = g.current_player  # TextArena: player 1 opens the first round
        assert first == 1 and g.legal_actions() == ["check", "bet"]
        card = "JQK"[cards[first]]
        assert f"Your card is: '{card}'" in g.observation(first)
        g.step("check")
        g.step("check")
        high = 0 if cards[0] > cards[1] else 1
        assert g.done and g.returns() == ([1.0, -1.0] if high == 0 else [-1.0, 1.0])
    g = play("KuhnPoker-v0", ["bet"], max_rounds=1)
    assert g.legal_actions() == ["call", "fold"]
    g.step("fold")
    assert g.returns() == [-1.0, 1.0]  # player 1 bet, player 0 folded


def test_connect_four_vertical_win():
    g = play("ConnectFour-v0", ["col 0", "col 1"] * 3 + ["col 0"])
    assert g.done and g.returns() == [1.0, -1.0] and g.turn == 7


def test_connect_four_full_column_is_not_legal():
    g = play("ConnectFour-v0", ["col 0"] * 6)
    assert "col 0" not in g.legal_actions() and len(g.legal_actions()) == 6
    with pytest.raises(IllegalAction):
        g.step("col 0")


def test_nim_taking_the_last_object_wins():
    g = play("Nim-v0", ["0 3", "1 4"])
    assert g.legal_actions() == ["2 1", "2 2", "2 3", "2 4", "2 5"]
    g.step("2 5")
    assert g.done and g.returns() == [1.0, -1.0]


# ----- invalid moves, brackets -------------------------------------------------------------------
def test_invalid_free_text_raises_and_changes_nothing():
    g = play("TicTacToe-v0", ["4"], actions="free")
    assert g.legal_actions() is None
    before = snapshot(g)
    for bad in ("4", "[4]", "9", "center please", "", "[]"):
        with pytest.raises(IllegalAction):
            g.step(bad)
        assert snapshot(g) == before
    state = g._base.state
    assert state.error_count == 0 and not state.game_info[1]["invalid_move"]  # TextArena never saw them
    assert "attempted an invalid move" not in g.observation(1)
    g.step("[0]")  # brackets or not, TextArena gets "[0]"
    assert g.current_player == 0 and "Player 1 placed their symbol (X) in cell 0." in g.observation(0)


def test_illegal_listed_action_is_rejected_before_textarena():
    g = play("KuhnPoker-v0", [])
    with pytest.raises(IllegalAction, match="not legal"):
        g.step("call")  # no bet to call
    assert g.turn == 0


def test_brackets_are_added_only_when_missing():
    g = make("textarena:TicTacToe-v0")
    assert g.env_text("4") == "[4]" and g.env_text("[4]") == "[4]"
    raw = make("textarena:TicTacToe-v0-raw", actions="free", bracket_actions=False)  # no TextArena wrappers
    raw.reset(seed=0)
    with pytest.raises(IllegalAction, match="format"):
        raw.step("4")  # TextArena's TicTacToe needs "[4]"
    raw.step("[4]")
    assert raw.turn == 1


class _Fragile(TicTacToeEnv):
    """TicTacToe whose step corrupts its board and crashes on a magic word."""

    def step(self, action):
        if "boom" in action:
            self.state.game_state["board"][0][0] = "Z"
            raise ZeroDivisionError("boom")
        return super().step(action)


def test_an_exception_inside_textarena_is_an_illegal_action(monkeypatch):
    wrappers = [LLMObservationWrapper, ActionFormattingWrapper]
    monkeypatch.setitem(ENV_REGISTRY, "SparringFragile-v0", EnvSpec("SparringFragile-v0", _Fragile, wrappers))
    g = TextArenaGame("SparringFragile-v0", actions="free")
    g.reset(seed=0)
    before = snapshot(g)
    with pytest.raises(IllegalAction, match="ZeroDivisionError"):
        g.step("boom")
    assert snapshot(g) == before and g._base.state.game_state["board"][0][0] == ""


# ----- determinism, isolation, copies -------------------------------------------------------------
def trace(g, seed, policy_seed=0):
    g.reset(seed=seed)
    pick, out = random.Random(policy_seed), []
    while not g.done:
        out.append((g.current_player, g.observation(g.current_player)))
        g.step(g.sample_action(pick))
    return out, g.returns()


def test_seeded_games_repeat_and_do_not_touch_the_global_rng():
    g = make("textarena:KuhnPoker-v0")
    random.seed(123)
    outside = random.getstate()
    first = [trace(g, seed=s) for s in range(3)]
    assert random.getstate() == outside  # TextArena's draws went to the games' own streams
    for k in range(3):
        random.seed(1000 + k)  # whatever the caller's global state, the same seeds, the same games
        assert [trace(g, seed=s) for s in range(3)] == first
    assert len({str(trace(g, seed=s)[0]) for s in range(8)}) > 1  # seeds deal different cards


def test_interleaved_games_with_one_seed_are_identical():
    a, b = make("textarena:KuhnPoker-v0"), make("textarena:KuhnPoker-v0")
    a.reset(seed=3)
    b.reset(seed=3)
    pa, pb = random.Random(1), random.Random(1)
    while not a.done:
        a.step(a.sample_action(pa))
        b.reset(seed=3) if b.done else b.step(b.sample_action(pb))  # b draws between a's steps
    single = make("textarena:KuhnPoker-v0")
    assert trace(single, seed=3, policy_seed=1)[1] == a.returns()


def test_clone_and_pickle_continue_like_the_original():
    g = play("KuhnPoker-v0", ["check"], seed=2)
    copies = [g.clone(), pickle.loads(pickle.dumps(g))]
    g.step("bet")
    for c in copies:
        assert c.turn == 1  # independent of the original
        c.step("bet")
        assert snapshot(c) == snapshot(g)


def test_turn_cap_ends_the_game_as_a_draw():
    g = play("TicTacToe-v0", ["0", "1", "2"], max_turns=3)
    assert g.done and g.returns() == [0.0, 0.0] and g.info["turn_cap"]


# ----- the checker --------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, options, games", [
    ("TicTacToe-v0", {}, 4),
    ("TicTacToe-v0", {"actions": "free"}, 3),  # free text, driven through sample_action
    ("KuhnPoker-v0", {}, 4),
    ("ConnectFour-v0", {}, 2),
    ("Nim-v0-raw", {}, 3),
])
def test_checker(env_id, options, games):
    assert check(make(f"textarena:{env_id}", **options), games=games, leak_deals=60) == games


def test_free_text_env_without_candidates_cannot_be_sampled():
    g = make("textarena:SimpleNegotiation-v0")
    g.reset(seed=0)
    assert g.legal_actions() is None
    with pytest.raises(NotImplementedError, match="actions="):
        g.sample_action(random.Random(0))
    g.step("Shall we trade?")  # free chat: sent as "[Shall we trade?]", no offer made
    assert g.turn == 1 and g.current_player == 1
    assert "Player 0 made no new trade offer." in g.observation(1)


# ----- through GameArena ------------------------------------------------------------------------
def scripted(answers):
    it = iter(answers)
    return ScriptedPolicy(lambda observation, legal: next(it))


def test_arena_plays_a_hand_played_tictactoe_game_in_free_text():
    roles = [Role("ttt/p0"), Role("ttt/p1")]
    learner, opponent = scripted(["I take [0]", "[1]", "[ 2 ]"]), scripted(["[3]", "[4]"])
    arena = GameArena("ta_ttt", "textarena:TicTacToe-v0", roles, learner, opponent,
                      game_options={"actions": "free"})
    episode = asyncio.run(arena.play(seed=0))  # learner seat = seed % 2 = 0
    assert episode.rewards == [1.0, -1.0] and episode.metadata["game_turns"] == 5
    assert [t.action for t in episode.turns] == ["0", "3", "1", "4", "2"]
    assert not any(t.invalid for t in episode.turns) and episode.forfeit is None


def test_arena_listed_actions_against_random_and_forfeit_on_nonsense():
    roles = [Role("kuhn/p0"), Role("kuhn/p1")]
    first_legal = ScriptedPolicy(lambda observation, legal: f"[{legal[0]}]")
    arena = GameArena("ta_kuhn", "textarena:KuhnPoker-v0", roles, first_legal, RandomPolicy(0),
                      game_options={"max_rounds": 2})
    for seed in range(4):
        episode = asyncio.run(arena.play(seed))
        assert sum(episode.rewards) == 0 and episode.rewards[0] in (-1.0, 0.0, 1.0)
        assert all(t.action in ("check", "bet", "call", "fold") for t in episode.turns)
    nonsense = GameArena("ta_kuhn", "textarena:KuhnPoker-v0", roles, scripted(["[raise 5]"]), RandomPolicy(0))
    episode = asyncio.run(nonsense.play(seed=1))  # learner in seat 1, which opens
    assert episode.forfeit == 1 and episode.rewards == [0.0, -1.0]


# ----- optional dependency ------------------------------------------------------------------------
def test_sparring_imports_without_textarena_and_names_the_extra(monkeypatch):
    code = "import sys, sparring.environments as e; e.names(); print('textarena' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # imported lazily, on the first textarena: game
    monkeypatch.setitem(sys.modules, "textarena", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install sparring\[textarena\]"):
        make("textarena:TicTacToe-v0")


class _NeedsWords(TicTacToeEnv):
    def reset(self, num_players, seed=None):
        raise LookupError("\n*****\n  Resource 'words' not found.\n  Please use the NLTK Downloader\n*****")


def test_env_that_cannot_start_offline_names_the_cause(monkeypatch):
    monkeypatch.setitem(ENV_REGISTRY, "SparringWords-v0", EnvSpec("SparringWords-v0", _NeedsWords, None))
    with pytest.raises(RuntimeError, match=r"SparringWords-v0 could not start offline.*Resource 'words' not found"):
        make("textarena:SparringWords-v0")
