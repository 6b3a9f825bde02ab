"""Simple Negotiation (after SPIRAL's / TextArena's SimpleNegotiation): trade Wood and Gold.

Two players start with seeded random holdings of Wood and Gold (4-8 of each; holdings are
public) and private values per unit that mirror each other: player 0 values Wood high (6-9) and
Gold low (1-3), player 1 the reverse; each sees only its own values. Player 0 moves first and
the players alternate for `max_turns` turns (default 10); every turn is one action, written
free-form with the action in brackets (the first bracketed span counts, talk around it is
ignored, and a bare action without brackets is read too):

    [Offer: I give N Wood, M Gold; you give A Wood, B Gold]    propose a trade (replaces any
                                                               pending offer: a counter-offer)
    [Accept]    accept the pending offer of the other player: the trade happens
    [Deny]      reject the pending offer (with none pending: pass)

In an offer a side may list its items in any order, leave one out (0) or say "nothing". An
offer must move at least one unit, and may give only what the proposer holds and ask only for
what the other player holds, so holdings never go negative; anything else raises IllegalAction.
After the last turn each player's gain is the change in the value of its holdings under its
own values; the larger gain wins (+1 / -1), equal gains draw (0 / 0).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from sparring.environments.base import Game, IllegalAction
from sparring.environments.registry import register

RESOURCES = ("Wood", "Gold")
GRAMMAR = "[Offer: I give N Wood, M Gold; you give A Wood, B Gold], [Accept] or [Deny]"
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_ITEM = r"\d{1,6}\s*(?:wood|gold)"
_SIDE = rf"(nothing|{_ITEM}(?:\s*(?:,|and)\s*{_ITEM})*)"
# offer\s*(?::\s*)?, not offer\s*:?\s*: two runs of \s* around an optional colon backtrack quadratically
_OFFER = re.compile(rf"offer\s*(?::\s*)?i\s+give\s+{_SIDE}\s*;\s*you\s+give\s+{_SIDE}\s*\.?", re.IGNORECASE)


@dataclass(frozen=True)
class Move:
    """A parsed action: kind is "offer", "accept" or "deny"; amounts are (Wood, Gold)."""

    kind: str
    give: tuple[int, int] = (0, 0)
    get: tuple[int, int] = (0, 0)

    def canonical(self) -> str:
        if self.kind != "offer":
            return self.kind.capitalize()
        return f"Offer: I give {_amounts(self.give)}; you give {_amounts(self.get)}"


def _amounts(amounts: tuple[int, int]) -> str:
    return ", ".join(f"{n} {r}" for n, r in zip(amounts, RESOURCES))


def _side(text: str, whole: str) -> tuple[int, int]:
    amounts = {}
    for number, resource in re.findall(r"(\d+)\s*(wood|gold)", text, re.IGNORECASE):
        key = resource.capitalize()
        if key in amounts:
            raise IllegalAction(f"simple_negotiation: {key} is named twice in one side of {whole!r}")
        amounts[key] = int(number)
    return amounts.get("Wood", 0), amounts.get("Gold", 0)


def parse_action(text: str) -> Move:
    """Read one action from free text (see the module docstring); IllegalAction if none."""
    if not isinstance(text, str):
        raise IllegalAction(f"simple_negotiation: an action must be text, got {type(text).__name__}")
    match = _BRACKET.search(text)
    inner = (match.group(1) if match else text).strip()
    for kind in ("accept", "deny"):
        if re.fullmatch(rf"{kind}\.?", inner, re.IGNORECASE):
            return Move(kind)
    offer = _OFFER.fullmatch(inner)
    if offer is None:
        raise IllegalAction(f"simple_negotiation: cannot read an action in {text[:200]!r}; expected {GRAMMAR}")
    return Move("offer", _side(offer.group(1), inner), _side(offer.group(2), inner))


@register("simple_negotiation")
class SimpleNegotiation(Game):
    name = "simple_negotiation"
    num_players = 2
    zero_sum = True

    def __init__(self, max_turns: int = 10) -> None:
        super().__init__()
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"simple_negotiation: max_turns must be a positive int, got {max_turns!r}")
        self.max_turns = max_turns
        self.rules = (
            f"Simple Negotiation. Trade Wood and Gold over {max_turns} turns in total. Each player has "
            "private values per unit; gain = change in the value of your holdings under your values. "
            "The larger gain wins. One action per turn, in brackets. An offer replaces any pending one; "
            "Deny rejects it (or passes)."
        )

    def setup(self) -> None:
        self.start = tuple(tuple(self.rng.randint(4, 8) for _ in RESOURCES) for _ in range(2))
        self.holdings = [list(h) for h in self.start]
        high = [self.rng.randint(6, 9) for _ in range(2)]
        low = [self.rng.randint(1, 3) for _ in range(2)]
        self.values = ((high[0], low[0]), (low[1], high[1]))  # (Wood, Gold) per player
        self.pending: tuple[int, Move] | None = None  # (proposer, offer)
        self.log: list[str] = []

    def value(self, player: int, holdings: tuple[int, ...] | list[int] | None = None) -> int:
        """The value of `holdings` (default: the player's current ones) under the player's values."""
        held = self.holdings[player] if holdings is None else holdings
        return sum(n * v for n, v in zip(held, self.values[player]))

    def gain(self, player: int) -> int:
        return self.value(player) - self.value(player, self.start[player])

    def _check_holdings(self, proposer: int, offer: Move) -> None:
        other = 1 - proposer
        for i, resource in enumerate(RESOURCES):
            if offer.give[i] > self.holdings[proposer][i]:
                raise IllegalAction(f"simple_negotiation: P{proposer} offers {offer.give[i]} {resource} "
                                    f"but holds {self.holdings[proposer][i]}")
            if offer.get[i] > self.holdings[other][i]:
                raise IllegalAction(f"simple_negotiation: P{proposer} asks for {offer.get[i]} {resource} "
                                    f"but P{other} holds {self.holdings[other][i]}")

    # ----- rules hooks ---------------------------------------------------------------------
    def to_move(self) -> int:
        return self.turn % 2

    def legal_actions(self) -> None:
        return None  # free text, read by parse_action in apply

    def apply(self, action: str) -> None:
        move, player = parse_action(action), self.to_move()
        if move.kind == "offer":
            if not any(move.give) and not any(move.get):
                raise IllegalAction("simple_negotiation: an offer must trade at least one unit")
            self._check_holdings(player, move)
            self.pending = (player, move)
            self.log.append(f"P{player} offered {_amounts(move.give)} for {_amounts(move.get)}.")
        elif move.kind == "accept":
            if self.pending is None:
                raise IllegalAction("simple_negotiation: there is no offer to accept")
            proposer, offer = self.pending
            self._check_holdings(proposer, offer)
            for i in range(len(RESOURCES)):
                delta = offer.get[i] - offer.give[i]
                self.holdings[proposer][i] += delta
                self.holdings[1 - proposer][i] -= delta
            self.pending = None
            self.log.append(f"P{player} accepted; trade done.")
        else:
            self.log.append(f"P{player} denied." if self.pending else f"P{player} passed.")
            self.pending = None

    def private_info(self, player: int) -> tuple:
        return self.values[player], self.start  # own values; the random start holdings are public

    def sample_action(self, rng: random.Random) -> str:
        player = self.to_move()
        kinds = ["offer", "deny"] + (["accept"] if self.pending else [])
        kind = rng.choice(kinds)
        if kind != "offer":
            return Move(kind).canonical()
        while True:
            give = tuple(rng.randint(0, min(3, n)) for n in self.holdings[player])
            get = tuple(rng.randint(0, min(3, n)) for n in self.holdings[1 - player])
            if any(give) or any(get):
                return Move("offer", give, get).canonical()

    def observation(self, player: int) -> str:
        other = 1 - player
        held = self.holdings
        lines = [
            self.rules,
            f"You are P{player}. Your values per unit: {self.values[player][0]} per Wood, "
            f"{self.values[player][1]} per Gold.",
            f"Holdings: you {_amounts(held[player])} (value {self.value(player)}, gain {self.gain(player):+d}); "
            f"P{other} {_amounts(held[other])}.",
            "History: " + (" ".join(self.log) if self.log else "none."),
        ]
        if self.outcome() is not None:
            gains = [self.gain(p) for p in (0, 1)]
            result = "a draw" if gains[0] == gains[1] else f"P{0 if gains[0] > gains[1] else 1} wins"
            return "\n".join(lines + [f"Game over: gains P0 {gains[0]:+d}, P1 {gains[1]:+d}; {result}."])
        if self.pending is not None and self.pending[0] == other:
            offer = self.pending[1]
            lines.append(f"Pending offer to you: you get {_amounts(offer.give)} and give {_amounts(offer.get)}.")
        elif self.pending is not None:
            lines.append(f"Your offer to P{other} is pending.")
        mover = "Your move" if self.to_move() == player else f"P{self.to_move()} to move"
        lines.append(f"Turn {self.turn + 1} of {self.max_turns}. {mover}.")
        mine, theirs = held[self.to_move()], held[1 - self.to_move()]
        legal = ["[Accept]"] if self.pending else []
        legal += ["[Deny]", f"[Offer: I give N Wood, M Gold; you give A Wood, B Gold] with N<={mine[0]}, "
                            f"M<={mine[1]}, A<={theirs[0]}, B<={theirs[1]}"]
        return "\n".join(lines + ["Legal: " + " ".join(legal)])

    def outcome(self) -> list[float] | None:
        if self.turn < self.max_turns:
            return None
        g0, g1 = self.gain(0), self.gain(1)
        if g0 == g1:
            return [0.0, 0.0]
        return [1.0, -1.0] if g0 > g1 else [-1.0, 1.0]
