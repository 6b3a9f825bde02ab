"""`check(env_or_name)`: assert a game honours its declared properties and the contract.

Plays random games and checks: seeded determinism, termination within `max_turns`, zero-sum
returns where declared, legal actions accepted and an illegal one rejected with IllegalAction,
`step` after the end rejected, and `clone()` giving an independent copy. It raises
AssertionError naming the game and the property that failed; it returns the number of games
played. (Checking that observations leak no private information needs game knowledge and is
left to each game's own tests.)
"""

from __future__ import annotations

import random

from sparring.environments.base import Game, GameOver, IllegalAction
from sparring.environments.registry import make

_NOT_AN_ACTION = "\x00not-an-action\x00"


def _play(game: Game, seed: int, pick: random.Random) -> list[str]:
    game.reset(seed=seed)
    trace = []
    while not game.done:
        assert game.turn <= game.max_turns, f"{game.name}: exceeded max_turns={game.max_turns}"
        player = game.current_player
        assert player is not None and 0 <= player < game.num_players, f"{game.name}: bad player {player}"
        obs = game.observation(player)
        assert isinstance(obs, str) and obs, f"{game.name}: empty observation"
        legal = game.legal_actions()
        if legal is None:
            return trace  # free-text games need a game-specific action generator
        assert legal, f"{game.name}: no legal actions while the game runs"
        if _NOT_AN_ACTION not in legal:
            try:
                game.step(_NOT_AN_ACTION)
            except IllegalAction:
                pass
            else:
                raise AssertionError(f"{game.name}: an illegal action was accepted")
        action = pick.choice(legal)
        trace.append(f"{player}:{action}:{obs}")
        game.step(action)
    assert game.turn <= game.max_turns, f"{game.name}: {game.turn} turns > max_turns={game.max_turns}"
    return trace


def check(env_or_name: Game | str, games: int = 50) -> int:
    game = make(env_or_name) if isinstance(env_or_name, str) else env_or_name
    for seed in range(games):
        first = _play(game, seed, random.Random(seed))
        returns = game.returns()
        assert len(returns) == game.num_players, f"{game.name}: returns has wrong length"
        if game.zero_sum:
            assert abs(sum(returns)) < 1e-9, f"{game.name}: returns {returns} do not sum to 0"
        try:
            game.step("anything")
        except GameOver:
            pass
        else:
            raise AssertionError(f"{game.name}: step after the end was accepted")
        again = _play(game, seed, random.Random(seed))
        assert first == again and game.returns() == returns, f"{game.name}: not deterministic under seed {seed}"
    # clone independence
    game.reset(seed=123)
    copy = game.clone()
    legal = game.legal_actions()
    if legal:
        game.step(legal[0])
        assert copy.turn == 0, f"{game.name}: clone() shares state with the original"
    return games
