"""How much of a TicTacToe outcome can any critic explain when play is near random?

A critic's `critic/explained_variance` (1 - Var(G - V) / Var(G) over the positions each player
faced) is bounded by the game's own luck. This computes the exact value of every position under
uniform random play for both sides (by enumerating the game from sparring's own rules) and the
explained variance those exact values reach over `--games` random games: the ceiling for a
critic while the policy is still close to random (a format-only warm start), which training
should raise as play sharpens. Last line: `tictactoe_random_play_value_ceiling=X`.

    python benchmarks/tictactoe_value_ceiling.py [--games 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.environments import make  # noqa: E402

_values: dict[tuple, float] = {}


def value(game) -> float:
    """Expected final reward of the player to move under uniform random play by both sides."""
    key = tuple(game.board)
    if key not in _values:
        mover = game.current_player
        total = 0.0
        for action in game.legal_actions():
            child = game.clone()
            child.step(action)
            total += child.returns()[mover] if child.done else -value(child)  # zero-sum, two players
        _values[key] = total / len(game.legal_actions())
    return _values[key]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    outcomes, values = [], []
    for i in range(args.games):
        game = make("tictactoe")
        game.reset(seed=i)
        faced = []
        while not game.done:
            faced.append((game.current_player, value(game)))
            game.step(rng.choice(game.legal_actions()))
        for player, v in faced:
            outcomes.append(game.returns()[player])
            values.append(v)
    n = len(outcomes)
    mean = sum(outcomes) / n
    var = sum((g - mean) ** 2 for g in outcomes) / n
    residual = [g - v for g, v in zip(outcomes, values)]
    rmean = sum(residual) / n
    rvar = sum((r - rmean) ** 2 for r in residual) / n
    print(f"{args.games} random games, {n} positions faced, {len(_values)} positions valued exactly")
    print(f"tictactoe_random_play_value_ceiling={1 - rvar / var:.3f}")


if __name__ == "__main__":
    main()
