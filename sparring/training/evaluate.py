"""Evaluation: a policy against an opponent in every seat of a game, with confidence intervals.

Outcomes per seat: win / draw / loss by the sign of the payoff, `invalid` when the evaluated
policy forfeited by an invalid answer, mean payoff with a normal-approximation 95% interval.
Evaluation seeds live far from training seeds, and seats alternate with the seed.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict, dataclass, field

from sparring.agents.policies import Policy
from sparring.agents.roles import Role
from sparring.arenas import GameArena, InvalidActionRule

EVAL_SEED_BASE = 1_000_000_000


@dataclass
class SeatResult:
    games: int = 0
    win: float = 0.0
    draw: float = 0.0
    loss: float = 0.0
    invalid: float = 0.0
    mean_payoff: float = 0.0
    ci95: float = 0.0


@dataclass
class EvalResult:
    game: str
    opponent: str
    seats: list[SeatResult] = field(default_factory=list)
    mean_payoff: float = 0.0  # averaged over seats
    ci95: float = 0.0
    win: float = 0.0
    draw: float = 0.0
    invalid: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    def metrics(self, prefix: str) -> dict[str, float]:
        out = {f"{prefix}/mean_payoff": self.mean_payoff, f"{prefix}/win": self.win,
               f"{prefix}/draw": self.draw, f"{prefix}/invalid": self.invalid}
        for s, seat in enumerate(self.seats):
            out[f"{prefix}/seat{s}_payoff"] = seat.mean_payoff
        return out


def _mean_ci(values: list[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = sum(values) / n
    if n < 2:
        return mean, float("inf")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n)


async def evaluate_async(policy: Policy, opponent: Policy, game: str, roles: list[Role], episodes_per_seat: int,
                         game_options: dict | None = None, invalid: InvalidActionRule = InvalidActionRule(),
                         opponent_name: str = "opponent") -> EvalResult:
    arena = GameArena("eval", game, roles, learner=policy, opponent=opponent, game_options=game_options, invalid=invalid)
    n_seats = arena.num_players
    seeds = [EVAL_SEED_BASE + i for i in range(episodes_per_seat * n_seats)]
    episodes = await asyncio.gather(*[arena.play(s) for s in seeds])
    result = EvalResult(game=game, opponent=opponent_name)
    per_seat_payoffs = []
    for seat in range(n_seats):
        mine = [e for e in episodes if e.metadata["learner_seat"] == seat]
        payoffs = [e.rewards[seat] for e in mine]
        mean, ci = _mean_ci(payoffs)
        n = len(mine)
        result.seats.append(SeatResult(
            games=n,
            win=sum(p > 0 for p in payoffs) / n,
            draw=sum(p == 0 for p in payoffs) / n,
            loss=sum(p < 0 for p in payoffs) / n,
            invalid=sum(e.metadata["forfeit"] == seat for e in mine) / n,
            mean_payoff=mean,
            ci95=ci,
        ))
        per_seat_payoffs.append(payoffs)
    k = len(result.seats)
    result.mean_payoff = sum(s.mean_payoff for s in result.seats) / k
    # seats are independent samples: the CI of their average
    result.ci95 = math.sqrt(sum(s.ci95 ** 2 for s in result.seats)) / k
    result.win = sum(s.win for s in result.seats) / k
    result.draw = sum(s.draw for s in result.seats) / k
    result.invalid = sum(s.invalid for s in result.seats) / k
    return result


def format_table(results: list[EvalResult]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title="evaluation")
    for col in ("game", "opponent", "seat", "games", "win", "draw", "loss", "invalid", "mean payoff ± 95% CI"):
        table.add_column(col)
    for r in results:
        for s, seat in enumerate(r.seats):
            table.add_row(r.game, r.opponent, str(s), str(seat.games), f"{seat.win:.3f}", f"{seat.draw:.3f}",
                          f"{seat.loss:.3f}", f"{seat.invalid:.3f}", f"{seat.mean_payoff:+.3f} ± {seat.ci95:.3f}")
        table.add_row(r.game, r.opponent, "avg", str(sum(s.games for s in r.seats)), f"{r.win:.3f}", f"{r.draw:.3f}",
                      "", f"{r.invalid:.3f}", f"{r.mean_payoff:+.3f} ± {r.ci95:.3f}")
    buf = StringIO()
    Console(file=buf, width=120).print(table)
    return buf.getvalue()
