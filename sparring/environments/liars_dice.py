"""Liar's Dice for two players, one round: bid on the dice of both players, or call the last bid.

Each player rolls `dice` dice (faces 1-6, default 2) that only they see. Player 0 bids first.
A bid "bid Q F" claims that at least Q of all 2*dice dice show face F; each bid must be higher
than the last: a larger quantity, or the same quantity and a larger face (quantities 1..2*dice).
Instead of raising, a player may "call" the last bid: all dice are shown; if at least Q dice show
F the bidder wins, otherwise the caller wins (+1 / -1). Ones are not wild unless `wild_ones=True`
(then a one also counts as any other face; a bid on face 1 counts only ones). There are 6*2*dice
possible bids, so a game lasts at most 12*dice + 1 turns (every bid, then a forced call).
"""

from __future__ import annotations

from sparring.environments.base import Game
from sparring.environments.registry import register

FACES = range(1, 7)


@register("liars_dice")
class LiarsDice(Game):
    name = "liars_dice"
    num_players = 2
    zero_sum = True

    def __init__(self, dice: int = 2, wild_ones: bool = False) -> None:
        super().__init__()
        if not isinstance(dice, int) or not 1 <= dice <= 5:
            raise ValueError(f"liars_dice: dice must be an int in 1..5, got {dice!r}")
        self.dice_per_player = dice
        self.wild_ones = bool(wild_ones)
        self.total = 2 * dice
        self.max_turns = len(FACES) * self.total + 1
        ones = ("Ones are wild: they also count as any other face." if self.wild_ones
                else "Ones are not wild.")
        self.rules = (
            f"Liar's Dice. Each player rolls {dice} dice (faces 1-6) and sees only their own. "
            f"'bid Q F' claims at least Q of all {self.total} dice show face F; each bid must raise the "
            f"quantity, or keep it and raise the face. 'call' challenges the last bid: if it holds the "
            f"bidder wins, else the caller wins. {ones}"
        )

    def setup(self) -> None:
        self.dice = [sorted(self.rng.randint(1, 6) for _ in range(self.dice_per_player)) for _ in range(2)]
        self.bids: list[tuple[int, int]] = []  # (quantity, face), bidders alternate from P0
        self.called = False

    def count(self, face: int) -> int:
        """How many of all dice count for `face` (ones included when wild)."""
        every = self.dice[0] + self.dice[1]
        return sum(d == face or (self.wild_ones and d == 1 and face != 1) for d in every)

    # ----- rules hooks ---------------------------------------------------------------------
    def to_move(self) -> int:
        return len(self.bids) % 2

    def legal_actions(self) -> list[str]:
        last = self.bids[-1] if self.bids else (0, 6)
        higher = [f"bid {q} {f}" for q in range(1, self.total + 1) for f in FACES if (q, f) > last]
        return (["call"] if self.bids else []) + higher

    def apply(self, action: str) -> None:
        if action == "call":
            self.called = True
        else:
            _, quantity, face = action.split()
            self.bids.append((int(quantity), int(face)))

    def private_note(self, player: int) -> str:
        return " ".join(map(str, self.dice[player]))

    def private_info(self, player: int) -> tuple[int, ...]:
        return tuple(self.dice[player])

    def _result(self) -> tuple[int, str]:
        """(winner, public summary) of a called game."""
        quantity, face = self.bids[-1]
        bidder = (len(self.bids) - 1) % 2
        caller = 1 - bidder
        found = self.count(face)
        winner = bidder if found >= quantity else caller
        shown = ", ".join(f"P{p} {' '.join(map(str, self.dice[p]))}" for p in (0, 1))
        return winner, (f"P{caller} called P{bidder}'s bid {quantity} {face}. Dice: {shown}; "
                        f"{found} count as {face}. P{winner} wins.")

    def observation(self, player: int) -> str:
        bids = ", ".join(f"P{i % 2} bid {q} {f}" for i, (q, f) in enumerate(self.bids))
        lines = [
            self.rules,
            f"You are P{player}. Your dice: {' '.join(map(str, self.dice[player]))}.",
            f"Bids: {bids or 'none'}.",
        ]
        if self.called:
            return "\n".join(lines + [self._result()[1]])
        mover = "Your move." if self.to_move() == player else f"P{self.to_move()} to move."
        return "\n".join(lines + [mover, "Legal: " + " ".join(f"[{a}]" for a in self.legal_actions())])

    def outcome(self) -> list[float] | None:
        if not self.called:
            return None
        winner = self._result()[0]
        return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]
