"""Opponents: minimax (perfect play, tie-breaks, refusals), Kuhn Poker's equilibrium (exact value and
exploitability, sampled play), the pool of past selves (growth, eviction, resume, per-episode
engines, LoRA), the OpenAI-compatible endpoint against a local fake server, and the specs."""

from __future__ import annotations

import asyncio
import copy
import functools
import importlib.util
import json
import operator
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from openai_stub import LocalServer, QuietHandler

from sparring.agents import RandomPolicy, Role, seat_roles
from sparring.agents.opponents import PoolOpponent, build_opponent, not_applicable, opponent_config
from sparring.agents.scripted import GameTooLarge, KuhnEquilibriumPolicy, MinimaxPolicy, UnsupportedGame
from sparring.arenas import GameArena
from sparring.config import OpponentConfig, PoolConfig
from sparring.environments import Game, make
from sparring.types import SamplingParams

REPO = Path(__file__).resolve().parents[2]
TTT_ROLES = seat_roles("tictactoe", 2, SamplingParams())
KUHN_ROLES = seat_roles("kuhn_poker", 2, SamplingParams())


def run(coro):
    return asyncio.run(coro)


async def play_all(arena: GameArena, seeds) -> list:
    return await asyncio.gather(*[arena.play(s) for s in seeds])


# ----- minimax ----------------------------------------------------------------------------------
def test_minimax_never_loses_at_tictactoe_against_random():
    arena = GameArena("t", "tictactoe", TTT_ROLES, MinimaxPolicy(seed=1), opponent=RandomPolicy(seed=2))
    episodes = run(play_all(arena, range(1000)))  # the learner seat alternates: 500 games per seat
    for seat in (0, 1):
        mine = [e for e in episodes if e.learner_seats == [seat]]
        assert len(mine) == 500
        assert all(e.rewards[seat] >= 0 for e in mine), f"minimax lost a game in seat {seat}"
        assert all(e.forfeit is None for e in mine)
        wins = sum(e.rewards[seat] > 0 for e in mine) / len(mine)
        assert wins > (0.9 if seat == 0 else 0.6), (seat, wins)  # it also converts random's blunders


def test_minimax_against_minimax_always_draws_along_different_lines():
    arena = GameArena("t", "tictactoe", TTT_ROLES, MinimaxPolicy(seed=1), opponent=MinimaxPolicy(seed=2))
    episodes = run(play_all(arena, range(60)))
    assert all(e.rewards == [0.0, 0.0] for e in episodes)
    lines = {tuple(t.action for t in e.turns) for e in episodes}
    assert len(lines) > 10  # ties between equally good moves are broken at random


def _random_positions(n: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(n):
        g = make("tictactoe")
        g.reset(seed=0)
        for _ in range(rng.randrange(0, 7)):
            if g.done:
                break
            g.step(rng.choice(g.legal_actions()))
        if not g.done:
            yield g


def test_minimax_takes_an_immediate_win_and_blocks_an_immediate_loss():
    m = MinimaxPolicy(seed=0)
    checked_wins = checked_blocks = 0
    for g in _random_positions(400):
        me = g.current_player
        best = m.best_actions(g)
        winning = [a for a in g.legal_actions() if _after(g, a).returns()[me] > 0]
        if winning:
            assert set(best) <= set(winning), (g.render(), best, winning)  # a faster win is preferred
            checked_wins += 1
        else:
            threats = [a for a in g.legal_actions() if _opponent_wins_at(g, a)]
            if len(threats) == 1 and m.solve(g)[0] * (1 if me == 0 else -1) >= 0:
                assert best == threats, (g.render(), best, threats)
                checked_blocks += 1
    assert checked_wins > 20 and checked_blocks > 20


def _after(g, action):
    c = g.clone()
    c.step(action)
    return c


def _opponent_wins_at(g, cell: str) -> bool:
    """Would the opponent complete a line by playing `cell`?"""
    c = g.clone()
    c.board[int(cell)] = 1 - g.current_player
    return c.winner() == 1 - g.current_player


def _move(policy, g) -> str:
    """The action a scripted policy plays in TicTacToe position `g`."""
    return run(policy.act(TTT_ROLES[0], g.current_player, g.render(), g.legal_actions(), state=g)).action


@pytest.mark.parametrize("rate", [0.3, 0.7])
def test_random_move_rate_leaves_the_expert_that_often(rate):
    """A non-optimal move can only come from the random share: its frequency is rate times the
    share of non-optimal legal moves, summed over positions (binomial bound, not a tuned figure)."""
    expert = MinimaxPolicy(seed=0)
    opponent = build_opponent(OpponentConfig(kind="minimax", random_move_rate=rate), game="tictactoe",
                              game_options={}, seed=5)
    off, expected, n = 0, 0.0, 0
    for g in _random_positions(3000, seed=1):
        best, legal = expert.best_actions(g), g.legal_actions()
        off += _move(opponent, g) not in best
        expected += rate * (1 - len(best) / len(legal))
        n += 1
    sd = (expected * (1 - expected / n)) ** 0.5
    assert abs(off - expected) < 4 * sd, (off, expected, sd)


def test_random_move_rate_zero_is_the_expert_and_the_rate_resumes():
    kw = dict(game="tictactoe", game_options={}, seed=3)
    assert isinstance(build_opponent(OpponentConfig(kind="minimax", random_move_rate=0.0), **kw), MinimaxPolicy)
    assert isinstance(build_opponent(OpponentConfig(kind="kuhn_equilibrium", random_move_rate=0.0),
                                     **{**kw, "game": "kuhn_poker"}), KuhnEquilibriumPolicy)
    opponent = build_opponent(OpponentConfig(kind="minimax", random_move_rate=0.5), **kw)
    assert opponent.name == "minimax+random:0.5" and not opponent.trainable
    positions = list(_random_positions(200, seed=2))

    def moves():
        return [_move(opponent, g) for g in positions]

    moves()  # advance the rngs
    state = copy.deepcopy(opponent.state_dict())
    first = moves()
    opponent.load_state_dict(state)
    assert moves() == first
    for kind in ("random", "self", "checkpoint", "pool"):
        with pytest.raises(ValueError, match="random_move_rate applies to kind 'minimax' or 'kuhn_equilibrium'"):
            OpponentConfig(kind=kind, random_move_rate=0.2)
    with pytest.raises(ValueError):
        OpponentConfig(kind="minimax", random_move_rate=1.5)


def test_a_blundering_minimax_loses_some_games_and_still_beats_random():
    opponent = build_opponent(OpponentConfig(kind="minimax", random_move_rate=0.5), game="tictactoe",
                              game_options={}, seed=4)
    arena = GameArena("t", "tictactoe", TTT_ROLES, opponent, opponent=RandomPolicy(seed=2))
    episodes = run(play_all(arena, range(600)))
    mover = [e.rewards[e.learner_seats[0]] for e in episodes]
    losses, wins = sum(r < 0 for r in mover) / len(mover), sum(r > 0 for r in mover) / len(mover)
    # minimax alone never loses; random against random wins ~0.44 seat-averaged (measured 0.64-0.68, losses ~0.2)
    assert losses > 0.05 and wins > 0.55, (losses, wins)


def test_a_blundering_kuhn_equilibrium_plays_whole_hands_and_beats_random():
    def payoff(rate: float) -> float:
        opponent = build_opponent(OpponentConfig(kind="kuhn_equilibrium", random_move_rate=rate), game="kuhn_poker",
                                  game_options={}, seed=4)
        arena = GameArena("k", "kuhn_poker", KUHN_ROLES, opponent, opponent=RandomPolicy(seed=2))
        episodes = run(play_all(arena, range(2000)))
        assert all(e.forfeit is None for e in episodes)
        return sum(e.rewards[e.learner_seats[0]] for e in episodes) / len(episodes)

    # 2,000 hands: +-0.06 at 95%; measured expert 0.104, at 0.5 0.063, uniform -0.040
    expert, blundering, uniform = payoff(0.0), payoff(0.5), payoff(1.0)
    assert expert > uniform + 0.05 and blundering > uniform + 0.05, (expert, blundering, uniform)


def test_random_moves_resume_from_a_bare_experts_state():
    kw = dict(game="tictactoe", game_options={}, seed=3)
    bare = build_opponent(OpponentConfig(kind="minimax"), **kw)
    wrapped = build_opponent(OpponentConfig(kind="minimax", random_move_rate=0.5), **kw)
    wrapped.load_state_dict(bare.state_dict())  # a checkpoint from before the rate was set
    assert wrapped.expert.rng.getstate() == bare.rng.getstate()


class TreeGame(Game):
    """A two-player game given as a tree: dict = decision of the player to move, float = payoff of
    player 0 at the end. The state is the path taken."""

    name, num_players, zero_sum, max_turns = "tree", 2, True, 10
    TREE: dict = {}

    def setup(self):
        self.path = []

    def _node(self):
        node = self.TREE
        for a in self.path:
            node = node[a]
        return node

    def to_move(self):
        return len(self.path) % 2

    def legal_actions(self):
        return sorted(self._node())

    def apply(self, action):
        self.path.append(action)

    def observation(self, player):
        return f"path {self.path}"

    def outcome(self):
        node = self._node()
        return None if isinstance(node, dict) else [node, -node]


def tree_game(tree: dict, cls=TreeGame) -> Game:
    g = type("T", (cls,), {"TREE": tree})()
    g.reset(seed=0)
    return g


def test_minimax_prefers_faster_wins_and_slower_losses_and_randomises_true_ties():
    win = tree_game({"quick": 1.0, "slow": {"x": {"y": 1.0}}})
    assert MinimaxPolicy().best_actions(win) == ["quick"]
    lose = tree_game({"resign": -1.0, "stall": {"x": {"y": -1.0}}})
    assert MinimaxPolicy().best_actions(lose) == ["stall"]
    # player 1 minimises player 0's payoff: here it must pick the branch worth -1 for player 0
    g = tree_game({"go": {"a": 1.0, "b": -1.0, "c": 0.0}})
    g.step("go")
    assert MinimaxPolicy().best_actions(g) == ["b"]
    tie = tree_game({"a": 0.0, "b": 0.0, "c": -1.0})
    role = Role("tree/p0")
    picks = {run(MinimaxPolicy(seed=s).act(role, 0, "", tie.legal_actions(), tie)).action for s in range(20)}
    assert picks == {"a", "b"}


class ChanceTree(TreeGame):
    def apply(self, action):
        self.rng.random()  # a die roll in the rules
        super().apply(action)


def test_minimax_refuses_chance_hidden_information_and_large_games():
    with pytest.raises(UnsupportedGame, match="deterministic"):
        MinimaxPolicy().solve(tree_game({"a": {"b": 1.0}}, ChanceTree))
    kuhn = make("kuhn_poker")
    kuhn.reset(seed=0)
    with pytest.raises(UnsupportedGame, match="perfect information"):
        MinimaxPolicy().solve(kuhn)
    ttt = make("tictactoe")
    ttt.reset(seed=0)
    with pytest.raises(GameTooLarge, match="max_states"):
        MinimaxPolicy(max_states=1000).solve(ttt)
    c4 = make("connect_four")
    c4.reset(seed=0)
    with pytest.raises(GameTooLarge, match="depth-limited"):
        MinimaxPolicy(max_states=2000).solve(c4)
    assert "perfect information" in not_applicable("minimax", "kuhn_poker")
    assert not_applicable("minimax", "tictactoe") is None
    with pytest.raises(UnsupportedGame, match="kuhn_poker"):
        build_opponent(OpponentConfig(kind="minimax"), game="kuhn_poker", game_options={}, seed=0)
    with pytest.raises(UnsupportedGame, match="game state"):
        run(MinimaxPolicy().act(Role("x"), 0, "", ["0"], None))


class Subtraction(Game):
    """Take 1-3 stones; whoever takes the last stone wins. The mover loses iff stones % 4 == 0."""

    name, num_players, zero_sum = "subtraction", 2, True

    def __init__(self, stones=10):
        super().__init__()
        self.start = self.max_turns = stones

    def setup(self):
        self.stones, self.player, self.winner = self.start, 0, None

    def to_move(self):
        return self.player

    def legal_actions(self):
        return [str(k) for k in (1, 2, 3) if k <= self.stones]

    def apply(self, action):
        self.stones -= int(action)
        if self.stones == 0:
            self.winner = self.player
        self.player = 1 - self.player

    def observation(self, player):
        return f"{self.stones} stones"

    def outcome(self):
        return None if self.winner is None else ([1.0, -1.0] if self.winner == 0 else [-1.0, 1.0])


@pytest.mark.parametrize("stones", range(1, 14))
def test_minimax_solves_a_subtraction_game_by_the_theory(stones):
    g = Subtraction(stones)
    g.reset(seed=0)
    value, _ = MinimaxPolicy().solve(g)
    assert (value < 0) == (stones % 4 == 0)
    if stones % 4:
        assert MinimaxPolicy().best_actions(g) == [str(stones % 4)]  # leave a multiple of 4


def load_nim():
    """examples/nim.py under the module name "nim", as tests/environments/test_nim.py loads it."""
    path = REPO / "examples" / "nim.py"
    if "nim" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nim", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nim"] = module
        spec.loader.exec_module(module)
    return sys.modules["nim"]


def nim_sum(piles) -> int:
    return functools.reduce(operator.xor, piles, 0)


@pytest.mark.parametrize("piles", ["3 4 5", "1 2 3", "2 2", "1 4 6 7"])
def test_minimax_plays_the_example_nim_game_by_boutons_theorem(piles):
    load_nim()
    g = make("nim", piles=piles)
    g.reset(seed=0)
    m = MinimaxPolicy()
    first_wins = m.solve(g)[0] > 0
    assert first_wins == (nim_sum(g.piles) != 0)  # Bouton: the mover wins iff the nim-sum is not 0
    if first_wins:
        for action in m.best_actions(g):  # every optimal move leaves a nim-sum of 0
            assert nim_sum(_after(g, action).piles) == 0, action


def test_minimax_wins_nim_from_the_winning_seat_against_random():
    load_nim()
    opponent = build_opponent(OpponentConfig(kind="minimax"), game="nim", game_options={}, seed=1)
    arena = GameArena("n", "nim", seat_roles("nim", 2, SamplingParams()), opponent, opponent=RandomPolicy(seed=2))
    episodes = run(play_all(arena, range(200)))
    first = [e for e in episodes if e.learner_seats == [0]]
    assert len(first) == 100 and all(e.rewards[0] == 1.0 for e in first)  # "3 4 5" is a first-player win
    second = [e for e in episodes if e.learner_seats == [1]]
    assert sum(e.rewards[1] > 0 for e in second) > 50  # random soon gives the win away


# ----- Kuhn Poker equilibrium ---------------------------------------------------------------------
CARDS = ("J", "Q", "K")


def kuhn_deal(c0: str, c1: str):
    g = make("kuhn_poker")
    g.reset(seed=0)
    g.cards = [c0, c1]  # a chosen deal (hands=1, so player 0 acts first)
    return g


def exact_value(policy0, policy1) -> Fraction:
    """Player 0's expected payoff, enumerating every deal and action with exact probabilities."""
    def walk(g) -> Fraction:
        if g.done:
            return Fraction(g.returns()[0]).limit_denominator()
        p = g.current_player
        probs = (policy0 if p == 0 else policy1).action_probs(g, p)
        return sum(Fraction(q).limit_denominator(1000) * walk(_after(g, a)) for a, q in probs.items() if q > 0)

    deals = [(a, b) for a in CARDS for b in CARDS if a != b]
    return sum(walk(kuhn_deal(a, b)) for a, b in deals) / len(deals)


def best_response_value(br_player: int, policy) -> Fraction:
    """The best payoff `br_player` can earn against `policy`, which plays the other seat: at each of
    its information sets (own card, betting) it picks the action with the best expected payoff
    over the opponent's cards, weighted by how likely the opponent's play reached the set."""
    def walk(card: str, history: list[str], weights: dict[str, Fraction]) -> Fraction:
        games = {}
        for opp in weights:
            g = kuhn_deal(*((card, opp) if br_player == 0 else (opp, card)))
            for a in history:
                g.step(a)
            games[opp] = g
        any_game = next(iter(games.values()))
        if any_game.done:
            return sum(w * Fraction(games[o].returns()[br_player]).limit_denominator() for o, w in weights.items())
        if any_game.current_player == br_player:
            return max(walk(card, history + [a], weights) for a in any_game.legal_actions())
        total = Fraction(0)
        for a in any_game.legal_actions():
            reach = {o: w * Fraction(policy.action_probs(games[o], 1 - br_player)[a]).limit_denominator(1000)
                     for o, w in weights.items()}
            total += walk(card, history + [a], reach)
        return total

    return sum(walk(c, [], {o: Fraction(1, 6) for o in CARDS if o != c}) for c in CARDS)


@pytest.mark.parametrize("alpha", [Fraction(0), Fraction(1, 6), Fraction(1, 3)])
def test_kuhn_equilibrium_value_is_minus_one_eighteenth_and_unexploitable(alpha):
    eq = KuhnEquilibriumPolicy(alpha=float(alpha))
    assert exact_value(eq, eq) == Fraction(-1, 18)
    # a best response to the first mover's strategy earns exactly the game value, and vice versa
    assert best_response_value(1, eq) == Fraction(1, 18)
    assert best_response_value(0, eq) == Fraction(-1, 18)


def test_a_non_equilibrium_strategy_is_exploitable():
    class AlwaysBetWithK(KuhnEquilibriumPolicy):  # never bluffs as second mover: exploitable
        def action_probs(self, state, player):
            probs = super().action_probs(state, player)
            if state.history == ["check"]:
                return {"bet": float(state.cards[player] == "K"), "check": float(state.cards[player] != "K")}
            return probs

    assert best_response_value(0, AlwaysBetWithK()) > Fraction(-1, 18)  # the check confirms the test can fail


def test_kuhn_equilibrium_self_play_samples_the_game_value():
    eq0, eq1 = KuhnEquilibriumPolicy(seed=1), KuhnEquilibriumPolicy(seed=2)
    role = Role("kuhn")

    async def hands(n: int) -> list[float]:
        out = []
        for seed in range(n):
            g = make("kuhn_poker")
            g.reset(seed=seed)
            while not g.done:
                p = g.current_player
                turn = await (eq0 if p == 0 else eq1).act(role, p, "", g.legal_actions(), g)
                g.step(turn.action)
            out.append(g.returns()[0])
        return out

    payoffs = run(hands(40_000))
    mean = sum(payoffs) / len(payoffs)
    se = (sum((x - mean) ** 2 for x in payoffs) / (len(payoffs) - 1) / len(payoffs)) ** 0.5
    assert abs(mean - (-1 / 18)) < 4 * se, (mean, se)
    assert mean + 4 * se < 0.0  # the first mover really loses on average


def test_kuhn_equilibrium_beats_random_and_follows_who_acts_first():
    arena = GameArena("k", "kuhn_poker", KUHN_ROLES, KuhnEquilibriumPolicy(seed=3), opponent=RandomPolicy(seed=4))
    episodes = run(play_all(arena, range(4000)))
    payoffs = [e.rewards[e.learner_seats[0]] for e in episodes]
    mean = sum(payoffs) / len(payoffs)
    se = (sum((x - mean) ** 2 for x in payoffs) / (len(payoffs) - 1) / len(payoffs)) ** 0.5
    assert mean - 3 * se > 0.05, (mean, se)
    # in the second hand player 1 acts first and plays the first mover's strategy
    g = make("kuhn_poker", hands=2)
    g.reset(seed=0)
    g.step("check"), g.step("check")
    assert g.first == 1 and g.current_player == 1
    g.cards = ["K", "J"]
    assert KuhnEquilibriumPolicy(alpha=0.25).action_probs(g, 1) == {"bet": 0.25, "check": 0.75}


def test_kuhn_equilibrium_refuses_other_games_and_bad_alpha():
    g = make("tictactoe")
    g.reset(seed=0)
    with pytest.raises(UnsupportedGame, match="kuhn_poker"):
        KuhnEquilibriumPolicy().action_probs(g, 0)
    with pytest.raises(ValueError, match="alpha"):
        KuhnEquilibriumPolicy(alpha=0.5)
    with pytest.raises(UnsupportedGame):
        build_opponent(OpponentConfig(kind="kuhn_equilibrium"), game="tictactoe", game_options={}, seed=0)


# ----- pool of past selves --------------------------------------------------------------------------
def _bump(model, amount: float):
    with torch.no_grad():
        model.get_input_embeddings().weight.add_(amount)
    return model


def _embedding(engine) -> torch.Tensor:
    return engine.model.get_input_embeddings().weight.detach().clone()


def test_pool_grows_evicts_and_spreads_episodes_over_snapshots(tiny_model, tokenizer, tmp_path):
    original = _embedding(type("E", (), {"model": tiny_model})())
    pool = PoolOpponent(tiny_model, tokenizer, PoolConfig(size=3, snapshot_every=2, active=2), tmp_path, seed=0)
    assert pool.members == ["step_0000000"] and (tmp_path / "step_0000000" / "tokenizer.json").exists()
    for step in range(1, 7):
        pool.after_update(step, _bump(tiny_model, 1.0))
    assert pool.members == ["step_0000000", "step_0000004", "step_0000006"]  # 2 evicted, the initial kept
    assert (tmp_path / "step_0000002").exists()  # evicted snapshots outlive one more checkpoint
    pool.state_dict()
    assert (tmp_path / "step_0000002").exists()
    pool.state_dict()
    assert not (tmp_path / "step_0000002").exists()
    seen = set()
    for step in range(8):
        pool.before_step(step)
        a, b = pool.for_episode(0), pool.for_episode(1)
        assert a is pool.for_episode(2) and a is not b
        assert a.name != b.name and not torch.equal(_embedding(a.engine), _embedding(b.engine))
        for policy in (a, b):
            step_of = int(policy.name.split("_")[1])
            assert torch.allclose(_embedding(policy.engine), original + step_of), policy.name  # the right weights
            seen.add(policy.name)
    assert seen == {"pool:step_0", "pool:step_4", "pool:step_6"}
    run(pool.aclose())


def test_pool_resumes_from_disk_and_state(tiny_model, tokenizer, tmp_path):
    original = _embedding(type("E", (), {"model": tiny_model})())
    cfg = PoolConfig(size=4, snapshot_every=1, active=2)
    first = PoolOpponent(tiny_model, tokenizer, cfg, tmp_path, seed=5)
    for step in (1, 2):
        first.after_update(step, _bump(tiny_model, 1.0))
    first.before_step(2)
    state = first.state_dict()
    first.after_update(3, _bump(tiny_model, 1.0))  # after the checkpoint: the resumed run redoes it
    # a new process: the learner passed in is the resumed one, the initial model comes from disk
    second = PoolOpponent(_bump(tiny_model, 100.0), tokenizer, cfg, tmp_path, seed=99)
    assert second.members == ["step_0000000", "step_0000001", "step_0000002", "step_0000003"]
    assert torch.allclose(_embedding(second.engines[0]), original)
    second.load_state_dict(state)
    assert second.members == ["step_0000000", "step_0000001", "step_0000002"]
    assert not (tmp_path / "step_0000003").exists()  # a snapshot from after the checkpoint is dropped
    assert second.loaded == state["loaded"]
    for step in range(3, 8):  # the same sampling as the run that was not interrupted
        first.members = list(second.members)
        first.before_step(step)
        second.before_step(step)
        assert first.loaded == second.loaded
    for a, b in zip(first.engines, second.engines):
        assert torch.equal(_embedding(a), _embedding(b))
    run(first.aclose())
    run(second.aclose())


def test_pool_snapshots_lora_models_merged(tiny_model, tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    from sparring.agents.models import load_model

    tiny_model_weights = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    model = get_peft_model(tiny_model, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)  # a non-zero adapter
    pool = PoolOpponent(model, tokenizer, PoolConfig(size=2, snapshot_every=1, active=1), tmp_path)
    pool.after_update(1, model)
    assert not (tmp_path / "step_0000001" / "adapter_config.json").exists()
    merged = load_model(str(tmp_path / "step_0000001")).state_dict()
    reference = copy.deepcopy(model).merge_and_unload().state_dict()  # merging a copy leaves `model` intact
    assert merged.keys() == reference.keys()
    for name in merged:
        assert torch.allclose(merged[name], reference[name]), name
    q = next(n for n in merged if "q_proj" in n)
    assert not torch.allclose(merged[q], tiny_model_weights[q])  # the adapter is in the weights
    run(pool.aclose())


def test_build_opponent_pool_needs_the_model(tmp_path):
    with pytest.raises(ValueError, match="initial_model"):
        build_opponent(OpponentConfig(kind="pool"), game="kuhn_poker", game_options={}, seed=0, run_dir=tmp_path)


def _brief_run(tmp_path, steps: int, arena: dict):
    """A Trainer for a few steps of one arena on a smaller tiny model, checkpointing every step."""
    from sparring.config import load_config
    from sparring.training.trainer import Trainer

    cfg = load_config(data={
        "run": {"output_dir": str(tmp_path / "run"), "steps": steps, "seed": 1},
        "model": {"name": "tiny", "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1,
                                            "intermediate_size": 128}},
        "sampling": {"max_new_tokens": 4},
        "arenas": [arena],
        "optim": {"micro_batch_size": 8},
        "checkpoint": {"every": 1, "keep": 2},
    })
    return Trainer(cfg, show_progress=False)


def test_trainer_runs_three_steps_against_a_pool(tmp_path):
    from sparring.training import checkpoint

    trainer = _brief_run(tmp_path, 3, {"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 8, "opponent": {
        "kind": "pool", "pool": {"snapshot_every": 1, "size": 2, "active": 2}}})
    try:
        trainer.train()
        pool = trainer.arenas[0].opponent
        assert pool.members == ["step_0000000", "step_0000003"]
        # the arena forwards its opponent's state into the checkpoint, under arena/<name>
        _, blob = checkpoint.load_state(checkpoint.latest(tmp_path / "run"))
        saved = blob["learner"]["components"]["arena/kuhn"]["opponent"]
        assert saved["members"] == ["step_0000000", "step_0000003"]
        assert sorted(p.name for p in (tmp_path / "run" / "opponents" / "kuhn").glob("step_*"))[0] == "step_0000000"
    finally:
        trainer.close()


def test_trainer_checkpoints_a_blundering_minimax(tmp_path):
    from sparring.training import checkpoint

    trainer = _brief_run(tmp_path, 2, {"name": "ttt", "game": "tictactoe", "episodes_per_step": 8,
                                       "opponent": {"kind": "minimax", "random_move_rate": 0.5}})
    try:
        trainer.train()
        opponent = trainer.arenas[0].opponent
        assert opponent.name == "minimax+random:0.5"
        _, blob = checkpoint.load_state(checkpoint.latest(tmp_path / "run"))
        saved = blob["learner"]["components"]["arena/ttt"]["opponent"]
        assert saved["rng"] == opponent.rng.getstate() and saved["expert"] == opponent.expert.state_dict()
    finally:
        trainer.close()


# ----- OpenAI-compatible endpoint ---------------------------------------------------------------------
class FakeServer(LocalServer):
    """A local chat-completions server answering from a queue of (status, body, delay_s)."""

    def __init__(self):
        self.replies: list[tuple[int, bytes, float]] = []
        self.requests: list[dict] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                       "body": json.loads(body)})
                if outer.replies:
                    status, reply, delay = outer.replies.pop(0)
                else:  # by default the first legal action the prompt lists
                    prompt = json.loads(body)["messages"][-1]["content"]
                    status, reply, delay = 200, _completion(prompt.split("Legal: ")[1].split()[0]), 0
                time.sleep(delay)
                self.send_body(status, reply)

        self.serve(Handler)


def _completion(text: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}).encode()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def _endpoint(server, monkeypatch, **kw):
    from sparring.agents.http_policy import OpenAIChatPolicy

    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-test-123")
    return OpenAIChatPolicy(server.url, "fake-model", api_key_env="SPARRING_TEST_KEY", **kw)


def test_endpoint_sends_the_role_messages_and_parses_the_answer(server, monkeypatch):
    policy = _endpoint(server, monkeypatch, temperature=0.3, max_tokens=7)
    role = Role("kuhn_poker/p0", system_prompt="Play well.")
    server.replies = [(200, _completion("I will [bet] now"), 0)]
    turn = run(policy.act(role, 0, "Your card: K.", ["check", "bet"]))
    assert turn.action == "bet" and not turn.invalid and not turn.trainable and turn.text == "I will [bet] now"
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test-123"
    assert req["body"] == {"model": "fake-model", "messages": role.messages("Your card: K."), "temperature": 0.3,
                           "max_tokens": 7}
    assert policy.name == "openai:fake-model" and not policy.errors


@pytest.mark.parametrize("status,body,delay,kind,why", [
    (500, b'{"error": "boom"}', 0, "http", "HTTP 500"),
    (200, b"<html>not json", 0, "bad_response", "not a chat completion"),
    (200, b'{"choices": []}', 0, "bad_response", "not a chat completion"),
    (200, b'{"choices": [{"message": {"content": null}}]}', 0, "bad_response", "not text"),
    (200, _completion("[check]"), 1.0, "timeout", "within 0.2 s"),
])
def test_endpoint_failures_are_counted_invalid_turns(server, monkeypatch, status, body, delay, kind, why):
    policy = _endpoint(server, monkeypatch, timeout_s=0.2)
    server.replies = [(status, body, delay)]
    turn = run(policy.act(Role("r"), 1, "obs", ["check", "bet"]))
    assert turn.invalid and turn.action is None and why in turn.text
    assert policy.errors == {kind: 1}


def test_endpoint_illegal_answer_and_refused_connection(server, monkeypatch):
    policy = _endpoint(server, monkeypatch)
    server.replies = [(200, _completion("[raise]"), 0)]
    assert run(policy.act(Role("r"), 0, "obs", ["check", "bet"])).invalid and not policy.errors
    from sparring.agents.http_policy import OpenAIChatPolicy

    closed = OpenAIChatPolicy("http://127.0.0.1:9/v1", "m", api_key_env=None, timeout_s=2)
    turn = run(closed.act(Role("r"), 0, "obs", ["check"]))
    assert turn.invalid and closed.errors == {"connection": 1}


def test_endpoint_text_with_a_lone_surrogate_reaches_the_game_encodable(server, monkeypatch, tiny_path):
    """JSON can carry a lone surrogate ("\\ud800"); the turn text must be one a tokenizer can
    encode, since a game passes it on in the learner's next observation."""
    from sparring.agents.models import load_tokenizer

    policy = _endpoint(server, monkeypatch)
    server.replies = [(200, b'{"choices": [{"message": {"content": "[bet] \\ud800 deal"}}]}', 0)]
    turn = run(policy.act(Role("r"), 0, "obs", ["check", "bet"]))
    assert turn.action == "bet" and turn.text == "[bet] ? deal"
    assert Role("r").prompt_ids(load_tokenizer(tiny_path), f"They said: {turn.text}")


def test_endpoint_key_handling(server, monkeypatch):
    from sparring.agents.http_policy import OpenAIChatPolicy

    monkeypatch.delenv("SPARRING_MISSING_KEY", raising=False)
    with pytest.raises(ValueError, match="SPARRING_MISSING_KEY"):
        OpenAIChatPolicy(server.url, "m", api_key_env="SPARRING_MISSING_KEY")
    with pytest.raises(ValueError, match="http"):
        OpenAIChatPolicy("localhost:8000", "m", api_key_env=None)
    keyless = OpenAIChatPolicy(server.url, "m", api_key_env=None)
    run(keyless.act(Role("r"), 0, "obs", ["check", "bet"]))
    assert server.requests[-1]["auth"] is None


def test_endpoint_as_an_arena_opponent_never_crashes_a_game(server, monkeypatch):
    policy = _endpoint(server, monkeypatch)
    server.replies = [(500, b"down", 0)] * 3 + [(200, b"garbage", 0)] * 3
    arena = GameArena("k", "kuhn_poker", KUHN_ROLES, RandomPolicy(seed=0), opponent=policy)
    episodes = run(play_all(arena, range(20)))
    forfeits = [e for e in episodes if e.forfeit is not None]
    assert len(forfeits) == 6 and all(e.forfeit != e.learner_seats[0] for e in forfeits)
    assert policy.errors == {"http": 3, "bad_response": 3} and policy.requests == sum(
        1 for e in episodes for t in e.turns if t.player != e.learner_seats[0])


# ----- specs and the builder -------------------------------------------------------------------------
def test_opponent_specs(tmp_path):
    assert opponent_config("minimax").kind == "minimax"
    assert opponent_config(f"checkpoint:{tmp_path}").path == str(tmp_path)
    with pytest.raises(ValueError, match="is not a directory"):
        opponent_config(f"checkpoint:{tmp_path / 'missing'}")
    cfg = opponent_config("openai:gpt-4o-mini@https://api.example.com/v1", api_key_env="MY_KEY")
    assert (cfg.kind, cfg.endpoint.model, cfg.endpoint.base_url, cfg.endpoint.api_key_env) == (
        "openai", "gpt-4o-mini", "https://api.example.com/v1", "MY_KEY")
    for bad in ("human", "checkpoint:", "openai:gpt", "openai:@http://x", "pool", "random+random:0.5",
                "minimax+random:", "minimax+random:-0.1"):
        with pytest.raises(ValueError, match="use random"):
            opponent_config(bad)


def test_blundering_specs_round_trip_through_the_opponents_name():
    """EXPERT+random:P is the config with random_move_rate P, and the opponent it builds reports
    the same spec as its name (the label eval tables print)."""
    for spec, kind, rate, game in (("minimax+random:0.5", "minimax", 0.5, "tictactoe"),
                                   ("kuhn_equilibrium+random:0.25", "kuhn_equilibrium", 0.25, "kuhn_poker")):
        cfg = opponent_config(spec)
        assert (cfg.kind, cfg.random_move_rate) == (kind, rate)
        assert build_opponent(cfg, game=game, game_options={}, seed=0).name == spec
    assert opponent_config("minimax+random:.5").random_move_rate == 0.5
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        opponent_config("minimax+random:1.5")


def test_build_opponent_kinds(tiny_path):
    kw = dict(game="tictactoe", game_options={}, seed=3)
    assert build_opponent(OpponentConfig(kind="self"), **kw) is None
    assert isinstance(build_opponent(OpponentConfig(kind="minimax"), **kw), MinimaxPolicy)
    assert isinstance(build_opponent(OpponentConfig(kind="random"), **kw), RandomPolicy)
    frozen = build_opponent(OpponentConfig(kind="checkpoint", path=tiny_path), **kw)
    assert not frozen.trainable and frozen.name == f"checkpoint:{tiny_path}"
    assert not_applicable("kuhn_equilibrium", "kuhn_poker") is None
    assert "kuhn_poker only" in not_applicable("kuhn_equilibrium", "tictactoe")
