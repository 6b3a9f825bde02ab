"""Evaluation: a policy against an opponent in every seat of a game, with confidence intervals,
and round-robin matches between several policies (the input of `training.elo`).

Outcomes per seat: win / draw / loss by comparing the evaluated seat's payoff with the best
other seat's (for two-player zero-sum games: the sign of the payoff; a forfeit by either side is
a loss for the forfeiter), `invalid` when the evaluated policy forfeited by an invalid answer,
`opponent_invalid` when the opponent did. Rates carry 95% Wilson score intervals, the mean
payoff a normal-approximation 95% interval. Evaluation seeds live far from training seeds and
seats alternate with the seed, so every pairing sees the same deals (common random numbers).
This module plays games; it loads no models and parses no command lines.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import asdict, dataclass, field

from sparring.agents.policies import Policy
from sparring.agents.roles import Role
from sparring.arenas.game_arena import GameArena, InvalidActionRule

EVAL_SEED_BASE = 1_000_000_000
RATES = ("win", "draw", "loss", "invalid", "opponent_invalid")


@dataclass
class SeatResult:
    games: int = 0
    win: float = 0.0
    draw: float = 0.0
    loss: float = 0.0
    invalid: float = 0.0
    mean_payoff: float = 0.0
    ci95: float = 0.0
    opponent_invalid: float = 0.0
    rate_ci95: dict[str, tuple[float, float]] = field(default_factory=dict)  # rate -> Wilson 95% interval


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
    loss: float = 0.0
    opponent_invalid: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    def metrics(self, prefix: str) -> dict[str, float]:
        out = {f"{prefix}/mean_payoff": self.mean_payoff, f"{prefix}/mean_payoff_ci95": self.ci95, f"{prefix}/win": self.win,
               f"{prefix}/draw": self.draw, f"{prefix}/invalid": self.invalid}
        for s, seat in enumerate(self.seats):
            out[f"{prefix}/seat{s}_payoff"] = seat.mean_payoff
        return out

    def points(self) -> tuple[float, int]:
        """(points of the evaluated policy, games): a win counts 1, a draw 1/2."""
        total = sum(round(s.win * s.games) + 0.5 * round(s.draw * s.games) for s in self.seats)
        return total, sum(s.games for s in self.seats)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (sensible at 0 and 1, unlike the normal one)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def mean_ci(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the normal-approximation 95% interval)."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = sum(values) / n
    if n < 2:
        return mean, float("inf")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n)


def outcome(rewards: list[float], seat: int) -> int:
    """+1 win, 0 draw, -1 loss for `seat`: its payoff against the best other seat's."""
    best_other = max(r for p, r in enumerate(rewards) if p != seat)
    return (rewards[seat] > best_other) - (rewards[seat] < best_other)


async def evaluate_async(policy: Policy, opponent: Policy, game: str, roles: list[Role], episodes_per_seat: int,
                         game_options: dict | None = None, invalid: InvalidActionRule = InvalidActionRule(),
                         opponent_name: str = "opponent") -> EvalResult:
    """`policy` against `opponent` (which may be `policy` itself), `episodes_per_seat` games in
    each seat, all games concurrently (so engines batch them)."""
    arena = GameArena("eval", game, roles, learner=policy, opponent=opponent, game_options=game_options, invalid=invalid)
    n_seats = arena.num_players
    seeds = [EVAL_SEED_BASE + i for i in range(episodes_per_seat * n_seats)]
    episodes = await asyncio.gather(*[arena.play(s) for s in seeds])
    result = EvalResult(game=game, opponent=opponent_name)
    for seat in range(n_seats):
        mine = [e for e in episodes if e.learner_seats == [seat]]
        n = len(mine)
        payoffs = [e.rewards[seat] for e in mine]
        outcomes = [outcome(e.rewards, seat) for e in mine]
        counts = {
            "win": sum(o > 0 for o in outcomes),
            "draw": sum(o == 0 for o in outcomes),
            "loss": sum(o < 0 for o in outcomes),
            "invalid": sum(e.forfeit == seat for e in mine),
            "opponent_invalid": sum(e.forfeit not in (None, seat) for e in mine),
        }
        mean, ci = mean_ci(payoffs)
        result.seats.append(SeatResult(
            games=n, mean_payoff=mean, ci95=ci, **{k: c / n for k, c in counts.items()},
            rate_ci95={k: wilson(c, n) for k, c in counts.items()},
        ))
    k = len(result.seats)
    result.mean_payoff = sum(s.mean_payoff for s in result.seats) / k
    # seats are independent samples: the CI of their average
    result.ci95 = math.sqrt(sum(s.ci95 ** 2 for s in result.seats)) / k
    for rate in RATES:
        setattr(result, rate, sum(getattr(s, rate) for s in result.seats) / k)
    return result


@dataclass
class Match:
    """One pairing of a round robin: a's points against b over `games` games (both seats)."""

    a: str
    b: str
    score_a: float
    games: int
    result: EvalResult  # a's view, per seat

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "score_a": self.score_a, "games": self.games,
                "a_mean_payoff": self.result.mean_payoff, "a_invalid": self.result.invalid,
                "b_invalid": self.result.opponent_invalid}


async def round_robin_async(players: dict[str, Policy], game: str, roles: list[Role], games_per_seat: int,
                            game_options: dict | None = None,
                            invalid: InvalidActionRule = InvalidActionRule()) -> list[Match]:
    """Every pair of players, `games_per_seat` games with each in each seat (pairs in name order)."""
    if len(players) < 2:
        raise ValueError(f"a round robin needs at least two players, got {sorted(players)}")
    matches = []
    for a, b in itertools.combinations(sorted(players), 2):
        result = await evaluate_async(players[a], players[b], game, roles, games_per_seat, game_options, invalid, b)
        score, games = result.points()
        matches.append(Match(a, b, score, games, result))
    return matches


def format_table(results: list[EvalResult]) -> str:
    from rich.table import Table

    table = Table(title="evaluation (rates with 95% Wilson intervals in the JSON)")
    for col in ("game", "opponent", "seat", "games", "win", "draw", "loss", "invalid", "opp. invalid",
                "mean payoff ± 95% CI"):
        table.add_column(col)
    for r in results:
        for s, seat in enumerate(r.seats):
            table.add_row(r.game, r.opponent, str(s), str(seat.games), f"{seat.win:.3f}", f"{seat.draw:.3f}",
                          f"{seat.loss:.3f}", f"{seat.invalid:.3f}", f"{seat.opponent_invalid:.3f}",
                          f"{seat.mean_payoff:+.3f} ± {seat.ci95:.3f}")
        table.add_row(r.game, r.opponent, "avg", str(sum(s.games for s in r.seats)), f"{r.win:.3f}", f"{r.draw:.3f}",
                      f"{r.loss:.3f}", f"{r.invalid:.3f}", f"{r.opponent_invalid:.3f}",
                      f"{r.mean_payoff:+.3f} ± {r.ci95:.3f}")
    return _render(table)


def format_elo_table(game: str, fit, anchor: str | None) -> str:
    from rich.table import Table

    title = f"Elo on {game} (" + (f"{anchor} = 1000" if anchor else "mean = 1000") + ")"
    table = Table(title=title)
    for col in ("rank", "player", "Elo ± 95% CI", "games", "score"):
        table.add_column(col)
    for rank, name in enumerate(fit.ranked(), 1):
        table.add_row(str(rank), name, f"{fit.ratings[name]:.0f} ± {fit.ci95[name]:.0f}", f"{fit.games[name]:.0f}",
                      f"{fit.score[name] / fit.games[name]:.3f}")
    return _render(table)


def _render(table) -> str:
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    Console(file=buf, width=140).print(table)
    return buf.getvalue()
