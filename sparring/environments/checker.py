"""`check(env_or_name)`: assert that a game honours its declared properties and the contract.

Random play (through the game's `sample_action`, so free-text games are played too) checks:
  - declared properties: players, `max_turns`, and termination within `max_turns` in every game;
  - returns: one finite float per player, summing to 0 where `zero_sum` is declared;
  - actions: every listed legal action is accepted and shown as `[action]` in the mover's
    observation; an illegal string is rejected with IllegalAction and changes nothing;
    `step` after the end raises GameOver;
  - determinism: the same seed and the same moves give the same game;
  - serialisation: a mid-game state survives `pickle` and `clone()`, and the copies continue
    exactly like the original (same players, legal actions, observations and returns);
  - no private-information leaks: deals that agree on the public action history and on a
    player's `private_info` must show that player the same observation (see `_check_leaks`).
It raises AssertionError naming the game and the property that failed, and returns the number
of games played. It cannot prove the absence of leaks a game hides inside `private_info` itself
(e.g. declaring the opponent's card as the player's private information).
"""

from __future__ import annotations

import itertools
import math
import pickle
import random
from typing import Any

from sparring.environments.base import Game, GameOver, IllegalAction
from sparring.environments.registry import make

_NOT_AN_ACTION = "\x00not-an-action\x00"
_ILLEGAL = (_NOT_AN_ACTION, "")


def check(env_or_name: Game | str, games: int = 50, leak_deals: int = 400) -> int:
    """Run every check on `games` random games (and `leak_deals` deals for the leak check)."""
    game = make(env_or_name) if isinstance(env_or_name, str) else env_or_name
    assert isinstance(game.num_players, int) and game.num_players >= 1, f"{game.name}: bad num_players"
    assert isinstance(game.max_turns, int) and game.max_turns >= 1, (
        f"{game.name}: max_turns must be a positive int, got {game.max_turns!r}")
    for seed in range(games):
        first = _play(game, seed, random.Random(seed), try_all_legal=seed < 5)
        returns = game.returns()
        _check_end(game, returns)
        again = _play(game, seed, random.Random(seed))
        assert first == again and game.returns() == returns, f"{game.name}: not deterministic under seed {seed}"
    _check_copies(game, seeds=range(min(games, 10)))
    _check_leaks(game, leak_deals)
    return games


# ----- random play ---------------------------------------------------------------------------
def _snapshot(game: Game) -> tuple:
    """Everything a player or the arena can see of a running game."""
    return (game.turn, game.current_player, game.legal_actions(),
            tuple(game.observation(p) for p in range(game.num_players)))


def _check_state(game: Game, try_all_legal: bool) -> None:
    name = game.name
    assert game.turn < game.max_turns, f"{name}: still running after max_turns={game.max_turns} turns"
    before = _snapshot(game)
    _, player, legal, observations = before
    assert isinstance(player, int) and 0 <= player < game.num_players, f"{name}: bad current player {player!r}"
    for p, obs in enumerate(observations):
        assert isinstance(obs, str) and obs, f"{name}: empty observation for P{p}"
    if legal is not None:
        assert legal, f"{name}: no legal actions while the game runs"
        assert all(isinstance(a, str) and a for a in legal), f"{name}: legal actions must be non-empty strings: {legal}"
        assert len(set(legal)) == len(legal), f"{name}: duplicate legal actions {legal}"
        obs = observations[player]
        missing = [a for a in legal if f"[{a}]" not in obs]
        assert not missing, f"{name}: P{player}'s observation does not list the legal actions {missing}:\n{obs}"
        for action in legal if try_all_legal else ():
            try:
                game.clone().step(action)
            except IllegalAction as e:
                raise AssertionError(f"{name}: the listed legal action {action!r} was refused: {e}") from e
            assert _snapshot(game) == before, f"{name}: stepping a clone() changed the original game"
    for bad in _ILLEGAL:
        if legal is not None and bad in legal:
            continue
        try:
            game.step(bad)
        except IllegalAction:
            pass
        else:
            raise AssertionError(f"{name}: the illegal action {bad!r} was accepted")
        assert _snapshot(game) == before, f"{name}: a rejected action {bad!r} changed the state"


def _sample(game: Game, pick: random.Random) -> str:
    action = game.sample_action(pick)
    legal = game.legal_actions()
    assert isinstance(action, str), f"{game.name}: sample_action returned {action!r}, not a string"
    assert legal is None or action in legal, f"{game.name}: sample_action gave {action!r}, not in {legal}"
    return action


def _step(game: Game, action: str) -> None:
    try:
        game.step(action)
    except IllegalAction as e:
        raise AssertionError(f"{game.name}: sample_action gave an action the game refused: {e}") from e


def _play(game: Game, seed: int, pick: random.Random, try_all_legal: bool = False) -> list[str]:
    game.reset(seed=seed)
    trace = []
    while not game.done:
        _check_state(game, try_all_legal)
        player = game.current_player
        action = _sample(game, pick)
        trace.append(f"{player}:{action}:{game.observation(player)}")
        _step(game, action)
    assert game.current_player is None, f"{game.name}: current_player is set after the end"
    assert game.turn <= game.max_turns, f"{game.name}: {game.turn} turns > max_turns={game.max_turns}"
    return trace


def _check_end(game: Game, returns: list[float]) -> None:
    name = game.name
    assert len(returns) == game.num_players, f"{name}: returns {returns} has the wrong length"
    assert all(isinstance(r, (int, float)) and math.isfinite(r) for r in returns), f"{name}: bad returns {returns}"
    if game.zero_sum:
        assert abs(sum(returns)) < 1e-9, f"{name}: returns {returns} do not sum to 0"
    try:
        game.step(_NOT_AN_ACTION)
    except GameOver:
        pass
    else:
        raise AssertionError(f"{name}: step after the end was accepted")


# ----- clone and pickle ----------------------------------------------------------------------
def _continue(game: Game, pick: random.Random) -> list[Any]:
    """The rest of the game under a fixed policy, with everything visible at each state."""
    trace: list[Any] = []
    while not game.done:
        trace.append(_snapshot(game))
        action = _sample(game, pick)
        trace.append(action)
        _step(game, action)
    return trace + [game.turn, game.returns()]


def _check_copies(game: Game, seeds) -> None:
    for seed in seeds:
        game.reset(seed=seed)
        pick = random.Random(seed)
        for _ in range(pick.randrange(game.max_turns)):
            if game.done:
                break
            _step(game, _sample(game, pick))
        try:
            restored = pickle.loads(pickle.dumps(game))
        except Exception as e:  # noqa: BLE001  (any failure to serialise is the finding)
            raise AssertionError(f"{game.name}: the game state does not survive pickle: {e!r}") from e
        cloned, turn = game.clone(), game.turn
        original = _continue(game, random.Random(seed + 1))  # the original first: a shared state shows
        for how, copy in (("clone()", cloned), ("pickle", restored)):
            assert _continue(copy, random.Random(seed + 1)) == original, (
                f"{game.name}: a copy made by {how} at turn {turn} of seed {seed} continues differently")


# ----- private information -------------------------------------------------------------------
def _hashable_info(game: Game, player: int):
    info = game.private_info(player)
    try:
        hash(info)
    except TypeError as e:
        raise AssertionError(f"{game.name}: private_info({player}) must be hashable, got {info!r}") from e
    return info


def _first_difference(a: str, b: str) -> str:
    for la, lb in zip(a.splitlines(), b.splitlines()):
        if la != lb:
            return f"{la!r} vs {lb!r}"
    return f"{a!r} vs {b!r}"


def _check_leaks(game: Game, deals: int, buckets: int = 30, per_bucket: int = 3, policies: int = 4) -> int:
    """Observations depend only on the public action history and the player's private_info.

    Deals are bucketed by what one player knows at the start, preferring buckets in which the
    other players' secrets differ; the deals of a bucket are played under the same seeded
    policies, so they share action histories. Every state is keyed by (history, player,
    private_info); two deals with equal keys must give equal observations. A game that has
    secrets but never yields such a comparison fails too: the check would prove nothing.
    Returns the number of comparisons between deals that differed in the other players' secrets.
    """
    n = game.num_players
    by_view: dict[tuple, dict[tuple, list[int]]] = {}  # (player, info) -> others' infos -> seeds
    for seed in range(deals):
        game.reset(seed=seed)
        infos = [_hashable_info(game, p) for p in range(n)]
        for p in range(n):
            seeds = by_view.setdefault((p, infos[p]), {}).setdefault(tuple(infos[:p] + infos[p + 1:]), [])
            if len(seeds) < per_bucket:
                seeds.append(seed)
    ranked = sorted(by_view.values(), key=lambda groups: (-len(groups), -sum(map(len, groups.values()))))
    seen: dict[tuple, tuple[str, int, tuple]] = {}
    secrets = informative = 0
    for index, groups in enumerate(ranked[:buckets]):
        rows = itertools.zip_longest(*groups.values())  # one seed per distinct secret first
        chosen = [s for row in rows for s in row if s is not None][:per_bucket]
        for policy, seed in itertools.product(range(policies), chosen):
            game.reset(seed=seed)
            pick = random.Random(index * policies + policy)
            history: list[str] = []
            while not game.done:
                infos = [_hashable_info(game, p) for p in range(n)]
                secrets += any(info is not None for info in infos)
                for p in range(n):
                    obs = game.observation(p)
                    others = tuple(infos[:p] + infos[p + 1:])
                    key = (tuple(history), p, infos[p])
                    if key not in seen:
                        seen[key] = (obs, seed, others)
                        continue
                    first, first_seed, first_others = seen[key]
                    informative += first_others != others
                    assert obs == first, (
                        f"{game.name}: P{p}'s observation depends on hidden information: seeds {first_seed} and "
                        f"{seed} share the moves {history} and P{p}'s private_info {infos[p]!r}, but the "
                        f"observations differ: {_first_difference(first, obs)}")
                action = _sample(game, pick)
                history.append(action)
                _step(game, action)
    # public chance (a point card both players see) is private_info without being anyone's secret:
    # only deals in which one player's view is shared while the others' secrets differ prove anything
    dealt_secrets = any(len(groups) > 1 for groups in by_view.values())
    assert not (secrets and dealt_secrets) or informative, (
        f"{game.name}: the leak check found no two deals with the same public history and private_info "
        f"but different secrets of the other players in {deals} deals; raise leak_deals")
    return informative
