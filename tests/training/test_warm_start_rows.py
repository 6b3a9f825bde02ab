"""The warm start's SFT rows: random legal play, all moves, the eventual winners' moves, or the
best-scoring move per position (Monte-Carlo policy improvement over random play)."""

import pytest

from sparring.agents.roles import seat_roles
from sparring.config import SearchLabelConfig, WarmStartConfig
from sparring.environments import make
from sparring.training.warm_start import transcripts
from sparring.types import SamplingParams

ROLES = seat_roles("tictactoe", 2, SamplingParams(4))


def test_all_moves_are_legal_random_play_in_both_seats():
    rows = transcripts([("tictactoe", {}, ROLES)], 300, seed=0)
    assert len(rows) == 300
    seats = {r["prompt"][0]["content"].split("You are ")[1][0] for r in rows}
    assert seats == {"X", "O"}


def test_winners_keeps_only_moves_of_the_player_who_went_on_to_win():
    # Replay the same seeded random games by hand: each kept row must be a move of that game's
    # winner, draws give nothing, and the winning move (the last one) is always kept.
    import random

    rows = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 400, seed=3, keep="winners")
    assert len(rows) == 400
    rng = random.Random(3 * 7919)
    expected, g = [], 0
    while len(expected) < 400:
        game = make("tictactoe", view="compact")
        game.reset(seed=3 * 1_000_003 + g)
        g += 1
        moves = []
        while not game.done:
            player = game.current_player
            obs = game.observation(player)
            action = game.sample_action(rng)
            moves.append((player, obs, action))
            game.step(action)
        returns = game.returns()
        if max(returns) > min(returns):
            winner = returns.index(max(returns))
            mine = [(ROLES[p].messages(o), f"[{a}]") for p, o, a in moves if p == winner]
            assert game.winner() == winner and moves[-1][0] == winner  # the winning move is kept
            expected.extend(mine)
    assert [(r["prompt"], r["completion"][0]["content"]) for r in rows] == expected[:400]


def test_best_labels_each_position_with_its_best_scoring_random_move():
    # Replay the seeded random games by hand, score every (position, move) by the mover's mean
    # payoff, and check every row's target is the best-scoring move tried there.
    import random

    rows = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 300, seed=2, search=SearchLabelConfig(games=2000))
    assert len(rows) == 300
    rng = random.Random(2 * 7919)
    scores: dict = {}
    visits = []
    for g in range(2000):
        game = make("tictactoe", view="compact")
        game.reset(seed=(2 * 7919) * 1_000_003 + g)
        moves = []
        while not game.done:
            player = game.current_player
            moves.append((player, game.observation(player), game.sample_action(rng)))
            game.step(moves[-1][2])
        for p, o, a in moves:
            scores.setdefault((p, o), {}).setdefault(a, []).append(game.returns()[p])
            visits.append((p, o))
    wins_found = 0
    for row, (p, o) in zip(rows, visits):
        assert row["prompt"] == ROLES[p].messages(o)
        means = {a: sum(v) / len(v) for a, v in scores[(p, o)].items()}
        target = row["completion"][0]["content"].strip("[]")
        assert means[target] == max(means.values())
        wins_found += means[target] == 1.0
    assert wins_found > 0
    # the labels are not random play: the first position (empty board) gets one move throughout
    assert len({r["completion"][0]["content"] for r, (p, o) in zip(rows, visits) if o == visits[0][1]}) == 1


@pytest.mark.parametrize("keep", ["losers", "best"])
def test_unknown_keep_is_rejected(keep):
    with pytest.raises(ValueError, match="keep"):
        transcripts([("tictactoe", {}, ROLES)], 10, seed=0, keep=keep)


def _play(moves: str):
    game = make("tictactoe", view="compact")
    game.reset(seed=0)
    for cell in moves:
        game.step(cell)
    return game


def test_rollouts_score_every_legal_move_and_find_the_win_and_the_block():
    import random

    from sparring.training.warm_start import _simulate

    # X: 0 1 _ / O: 3 4 _ ; X to move. 2 wins at once (every continuation scores exactly +1);
    # anything else lets O win at 5 unless O's random reply misses it.
    win = _play("0314")
    scored: dict = {}
    _simulate(win, scored, 16, random.Random(0))
    assert set(scored) == set(win.legal_actions()) and all(n == 16 for _, n in scored.values())
    assert scored["2"][0] / 16 == 1.0
    assert max(scored, key=lambda a: scored[a][0] / scored[a][1]) == "2"
    # O to move after X 0, O 4, X 1: X threatens 2; O must block there.
    block = _play("041")
    scored = {}
    _simulate(block, scored, 64, random.Random(1))
    assert max(scored, key=lambda a: scored[a][0] / scored[a][1]) == "2"
    # A second visit of a perfect-information position adds nothing once every move has its count.
    before = {a: list(v) for a, v in scored.items()}
    _simulate(block, scored, 64, random.Random(2))
    assert scored == before


def test_rollouts_with_hidden_information_add_one_continuation_per_visit():
    import random

    from sparring.training.warm_start import _simulate

    game = make("kuhn_poker")
    game.reset(seed=0)
    scored: dict = {}
    for visit in range(3):
        _simulate(game, scored, 2, random.Random(visit))
        assert all(n == min(visit + 1, 2) for _, n in scored.values())
    assert set(scored) == set(game.legal_actions())


def test_rollouts_keep_the_positions_of_random_play_and_label_the_wins():
    kw = dict(seed=4)
    by_games = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 400, search=SearchLabelConfig(games=2000), **kw)
    by_rollouts = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 400, search=SearchLabelConfig(rollouts=32),
                              **kw)
    assert [r["prompt"] for r in by_rollouts] == [r["prompt"] for r in by_games]
    # Where the mover can complete a line, a simulated win scores exactly +1, the maximum; another
    # move ties only if all its 32 random continuations also win (97 of these 103 labels complete
    # a line; random play's own moves complete one in 43% of such positions).
    import re

    from sparring.environments.tictactoe import LINES

    checked = taken = 0
    for row in by_rollouts:
        text = row["prompt"][-1]["content"]
        me = re.search(r"You are (\w)", text).group(1)
        cells = re.findall(r"\((\w)\)|\[(\d)\]", text)
        board = [mark or None for mark, _ in cells]
        wins = {c for line in LINES for c in line
                if board[c] is None and sum(board[o] == me for o in line) == 2}
        if wins:
            checked += 1
            taken += int(row["completion"][0]["content"].strip("[]")) in wins
    assert checked > 10 and taken / checked >= 0.9


def test_unique_keeps_each_visited_position_once_in_order_of_first_visit():
    every = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 600, seed=5, search=SearchLabelConfig(rollouts=4))
    once = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 600, seed=5,
                       search=SearchLabelConfig(rollouts=4, unique=True))
    first: dict = {}
    for row in every:
        first.setdefault(row["prompt"][-1]["content"], row)
    assert 100 < len(once) < 600  # random play revisits the openings
    assert once == list(first.values())


@pytest.mark.parametrize("option", [{"rollouts": 4}, {"unique": True}, {"play": "best", "rollouts": 4}])
def test_search_labels_and_keep_winners_exclude_each_other(option):
    with pytest.raises(ValueError, match="exclude each other"):
        WarmStartConfig(keep="winners", search=SearchLabelConfig(**option))
    assert WarmStartConfig(search=SearchLabelConfig(**option)).search == SearchLabelConfig(**option)


def _table_policy_vs_random(rows: list[dict], seat: int, games: int) -> tuple[float, float]:
    """(win+draw rate, share of the seat's positions missing from the rows) of playing the rows'
    labels as `seat` against uniform random TicTacToe."""
    import random

    table = {r["prompt"][-1]["content"]: r["completion"][0]["content"].strip("[]") for r in rows}
    rng = random.Random(11)
    good = met = missed = 0
    for i in range(games):
        game = make("tictactoe", view="compact")
        game.reset(seed=i)
        while not game.done:
            player = game.current_player
            action = None
            if player == seat:
                met += 1
                action = table.get(ROLES[player].messages(game.observation(player))[-1]["content"])
                missed += action is None
            game.step(action or game.sample_action(rng))
        good += game.returns()[seat] >= 0
    return good / games, missed / met


def test_play_best_labels_the_positions_the_improved_player_meets():
    by_random = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 6000, seed=2,
                            search=SearchLabelConfig(rollouts=1, unique=True))  # positions only
    by_best = transcripts([("tictactoe", {"view": "compact"}, ROLES)], 6000, seed=2,
                          search=SearchLabelConfig(rollouts=16, play="best", unique=True))
    # Random play spreads 6,000 visits over thousands of positions; a player following the labels
    # narrows the tree to a few hundred, and playing the labels against random stays inside it.
    assert len(by_best) < 0.4 * len(by_random)
    for seat, floor in ((0, 0.9), (1, 0.8)):  # random play scores ~0.72 as X and ~0.41 as O
        score, missed = _table_policy_vs_random(by_best, seat, 300)
        assert score >= floor and missed < 0.1, (seat, score, missed)


@pytest.mark.parametrize("kw, named", [(dict(play="best"), "rollouts"), (dict(rollouts=4, play="greedy"), "play")])
def test_play_best_needs_rollouts_and_a_known_value(kw, named):
    with pytest.raises(ValueError, match=named):
        SearchLabelConfig(**kw)


@pytest.mark.parametrize("game, hidden", [("kuhn_poker", True), ("liars_dice", True), ("tictactoe", False)])
def test_play_best_with_hidden_information_chooses_before_this_visits_continuations(monkeypatch, game, hidden):
    # A continuation from a clone knows every secret of the current deal; the seat that follows
    # the labels must not act on the one it just ran. Record the order of scoring and choosing:
    # with hidden information no choice may read the scores a simulation just wrote.
    import sparring.training.warm_start as ws

    events: list[tuple[str, int]] = []
    simulate, best = ws._simulate, ws._best
    monkeypatch.setattr(ws, "_simulate", lambda g, scored, *a: (events.append(("sim", id(scored))), simulate(g, scored, *a))[1])
    monkeypatch.setattr(ws, "_best", lambda scored: (events.append(("best", id(scored))), best(scored))[1])
    roles = seat_roles(game, make(game).num_players, SamplingParams(4))
    ws._best_moves(game, {}, roles, 400, 0, seed=1, rollouts=4, play="best")
    in_play = events[: max(i for i, (kind, _) in enumerate(events) if kind == "sim") + 1]
    right_after = sum(a == ("sim", b[1]) and b[0] == "best" for a, b in zip(in_play, in_play[1:]))
    chosen = sum(kind == "best" for kind, _ in in_play)
    assert chosen > 20  # the labelled seat did follow the scores
    assert (right_after == 0) if hidden else (right_after == chosen)


@pytest.mark.parametrize("style, fmt", [("plain", "bracket"), ("chat", "think"), ("plain", "boxed")])
def test_rows_follow_the_roles_prompt_style_and_answer_format(tokenizer, style, fmt):
    """Plain-style roles give text rows (TRL's prompt/completion strings); every target is the
    move written in the role's answer format, and reads back as that move."""
    from sparring.agents.prompting import PromptConfig, seat_roles_for

    roles = seat_roles_for(PromptConfig(style=style, answer_format=fmt), "tictactoe", 2, SamplingParams(4),
                           tokenizer=tokenizer)
    rows = transcripts([("tictactoe", {}, roles)], 40, seed=0)
    default = transcripts([("tictactoe", {}, ROLES)], 40, seed=0)  # the same games, original rows
    for row, old in zip(rows, default):
        action = old["completion"][0]["content"].strip("[]")
        observation = old["prompt"][-1]["content"].removesuffix("\nAnswer with one legal action in brackets.")
        role = roles[0] if "You are X." in observation else roles[1]
        if style == "plain":
            assert row == {"prompt": role.prompt_text(observation), "completion": role.format_action(action)}
        else:
            assert row["prompt"] == role.messages(observation)
            assert row["completion"] == [{"role": "assistant", "content": role.format_action(action)}]
        assert role.parse(role.format_action(action), [str(i) for i in range(9)]) == action
        assert role.format_action(action) != f"[{action}]" or fmt == "bracket"


def test_plain_rows_train_through_trl_on_the_rollout_prompt(tiny_model, tokenizer):
    """TRL takes the text rows, and the prompt it trains on is token for token the rollout's."""
    import math

    from sparring.agents.prompting import PromptConfig, seat_roles_for
    from sparring.training.warm_start import run_sft

    roles = seat_roles_for(PromptConfig(style="plain", answer_format="think"), "kuhn_poker", 2, SamplingParams(4),
                           tokenizer=tokenizer)
    rows = transcripts([("kuhn_poker", {}, roles)], 16, seed=0)
    for row in rows:
        prompt = tokenizer(row["prompt"])["input_ids"]
        assert tokenizer(row["prompt"] + row["completion"])["input_ids"][:len(prompt)] == prompt
    stats = run_sft(tiny_model, tokenizer, rows, epochs=1, learning_rate=1e-3, batch_size=8, seed=0)
    assert math.isfinite(stats["warm_start/loss"]) and stats["warm_start/examples"] == 16


def test_a_warm_start_over_chat_and_plain_arenas_is_refused_by_name(tmp_path, small_spec_kw):
    """One SFT dataset takes one prompt format: mixed styles fail before any training, naming why."""
    from sparring.config import load_config
    from sparring.training.trainer import Trainer

    cfg = load_config(data={
        "run": {"output_dir": str(tmp_path / "run"), "steps": 1}, "model": {"tiny": small_spec_kw},
        "warm_start": {"enabled": True, "examples": 8},
        "arenas": [{"name": "chat", "game": "kuhn_poker", "prompt": {"style": "chat"}},
                   {"name": "plain", "game": "tictactoe", "prompt": {"style": "plain"}}]})
    with pytest.raises(ValueError, match="mix chat messages and plain text"):
        Trainer(cfg, show_progress=False)


def test_restating_rows_copy_the_players_own_private_note():
    """prompt.restate: every Kuhn target is the mover's own card, then the random legal action;
    Liar's Dice writes the mover's dice; a game with nothing private is refused by the arena."""
    import re

    from sparring.agents.prompting import PromptConfig, seat_roles_for
    from sparring.arenas.game_arena import GameArena

    for game, pattern in [("kuhn_poker", r"Your card: (\w)\."), ("liars_dice", r"Your dice: ([\d ]+)\.")]:
        roles = seat_roles_for(PromptConfig(restate=True), game, 2, SamplingParams(8))
        rows = transcripts([(game, {}, roles)], 60, seed=0)
        notes = set()
        for row in rows:
            note = re.search(pattern, row["prompt"][-1]["content"]).group(1)
            completion = row["completion"][0]["content"]
            assert completion.startswith(f"{note} ["), completion
            assert roles[0].parse(completion, None) == completion.split("[", 1)[1].rstrip("]")
            notes.add(note)
        assert len(notes) >= 3  # the note follows the deal
    roles = seat_roles_for(PromptConfig(restate=True), "tictactoe", 2, SamplingParams(4))
    with pytest.raises(ValueError, match="prompt.restate.*no private information"):
        GameArena("ttt", "tictactoe", roles, learner=None)
