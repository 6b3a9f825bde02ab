"""Kuhn Poker with the standard rules, chips that really move, and several hands per game.

Deck J < Q < K; each player antes 1 and gets one card; one betting round with a single bet of 1:
check/bet, then call/fold against a bet. Showdown: the higher card takes the pot (2 after
check-check, 4 after a called bet); a fold gives the pot to the bettor. Returns are each
player's chip gain over all hands, so they sum to zero. Seats alternate who acts first.
"""

from __future__ import annotations

from sparring.environments.base import Game
from sparring.environments.registry import register

CARDS = ("J", "Q", "K")
RULES = (
    "Kuhn Poker. Deck J<Q<K, one card each, ante 1. "
    "Actions: check or bet 1; facing a bet: call or fold. Higher card wins the pot."
)


@register("kuhn_poker")
class KuhnPoker(Game):
    name = "kuhn_poker"
    num_players = 2
    zero_sum = True

    def __init__(self, hands: int = 1) -> None:
        super().__init__()
        if hands < 1:
            raise ValueError(f"kuhn_poker: hands must be >= 1, got {hands}")
        self.hands = hands
        self.max_turns = 3 * hands  # check, bet, call/fold is the longest hand

    def setup(self) -> None:
        self.hand = 0
        self.gains = [0.0, 0.0]
        self.log: list[str] = []  # public summaries of finished hands
        self._deal()

    def _deal(self) -> None:
        self.cards = self.rng.sample(CARDS, 2)
        self.first = self.hand % 2  # seats alternate who acts first
        self.history: list[str] = []
        self.put_in = [1, 1]  # the antes

    # ----- rules hooks ---------------------------------------------------------------------
    def to_move(self) -> int:
        return (self.first + len(self.history)) % 2

    def legal_actions(self) -> list[str]:
        if self.history and self.history[-1] == "bet":
            return ["fold", "call"]
        return ["check", "bet"]

    def apply(self, action: str) -> None:
        player = self.to_move()
        self.history.append(action)
        if action in ("bet", "call"):
            self.put_in[player] += 1
        winner = self._hand_winner()
        if winner is not None:
            self._settle(winner)

    def _hand_winner(self) -> int | None:
        h = self.history
        if h[-1] == "fold":  # the folder is the player who just acted
            return 1 - ((self.first + len(h) - 1) % 2)
        if h == ["check", "check"] or h[-1] == "call":
            return 0 if CARDS.index(self.cards[0]) > CARDS.index(self.cards[1]) else 1
        return None

    def _settle(self, winner: int) -> None:
        pot = sum(self.put_in)
        for p in (0, 1):
            self.gains[p] += (pot if p == winner else 0) - self.put_in[p]
        shown = self.history[-1] != "fold"
        cards = f"cards P0={self.cards[0]} P1={self.cards[1]}" if shown else "no showdown"
        self.log.append(
            f"Hand {self.hand + 1}: {' '.join(self.history)}; {cards}; P{winner} won {pot}."
        )
        self.hand += 1
        if self.hand < self.hands:
            self._deal()

    def observation(self, player: int) -> str:
        lines = [RULES, f"You are P{player}. Hand {self.hand + 1} of {self.hands}."]
        lines += self.log
        if self.hands > 1:
            lines.append(f"Your chips so far: {self.gains[player]:+g}.")
        lines.append(f"Your card: {self.cards[player]}.")
        seq = [f"P{(self.first + i) % 2} {a}" for i, a in enumerate(self.history)]
        lines.append("Betting: " + (", ".join(seq) if seq else "none") + f". Pot {sum(self.put_in)}.")
        lines.append("Legal: " + " ".join(f"[{a}]" for a in self.legal_actions()))
        return "\n".join(lines)

    def outcome(self) -> list[float] | None:
        return list(self.gains) if self.hand >= self.hands else None

    def private_note(self, player: int) -> str:
        return self.cards[player]

    def private_info(self, player: int) -> tuple:
        # own card, plus the public log (it holds the showdown cards of finished hands)
        return self.cards[player], tuple(self.log)
