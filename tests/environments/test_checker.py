"""The shipped checker: it passes on every registered game and fails on games that break a rule.

Each broken game below is a working game with one deliberate fault; the checker must name it.
None of them is registered, so `names()` stays the list of real games.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sparring.environments import IllegalAction, check, make, names
from sparring.environments.checker import _check_leaks
from sparring.environments.kuhn_poker import KuhnPoker
from sparring.environments.liars_dice import LiarsDice
from sparring.environments.simple_negotiation import SimpleNegotiation
from sparring.environments.tictactoe import TicTacToe

BUILT_IN = {"kuhn_poker", "tictactoe", "connect_four", "liars_dice", "simple_negotiation"}


def test_built_in_games_are_registered():
    assert BUILT_IN <= set(names())


@pytest.mark.parametrize("name", names())
def test_check_passes_on_every_registered_game(name):
    assert check(name) == 50


@pytest.mark.parametrize("name, options", [
    ("kuhn_poker", {"hands": 3}), ("liars_dice", {"dice": 1}), ("liars_dice", {"dice": 3, "wild_ones": True}),
    ("simple_negotiation", {"max_turns": 3}),
])
def test_check_passes_with_options(name, options):
    assert check(make(name, **options), games=20) == 20


@pytest.mark.parametrize("name", ["kuhn_poker", "liars_dice", "simple_negotiation"])
def test_leak_check_compares_deals_with_different_secrets(name):
    assert _check_leaks(make(name), deals=400) > 10


# ----- leaky games: the observation shows another player's secret ------------------------------
class LeakyKuhn(KuhnPoker):
    def observation(self, player: int) -> str:
        return super().observation(player) + f"\nOpponent's card: {self.cards[1 - player]}."


class LeakyKuhnAfterBet(KuhnPoker):
    """Leaks only to the player facing a bet, in one history out of four."""

    def observation(self, player: int) -> str:
        leak = self.history == ["bet"] and player == 1
        return super().observation(player) + (f" ({self.cards[0]})" if leak else "")


class LeakyDice(LiarsDice):
    def observation(self, player: int) -> str:  # tells whether the opponent holds a six
        return super().observation(player) + ("!" if 6 in self.dice[1 - player] else "")


class LeakyNegotiation(SimpleNegotiation):
    def observation(self, player: int) -> str:
        return super().observation(player) + f"\nP{1 - player} values Wood at {self.values[1 - player][0]}."


class UndeclaredSecret(KuhnPoker):
    """Honest observations, but private_info is not declared: the card looks like a leak."""

    def private_info(self, player: int):
        return None


@pytest.mark.parametrize("cls", [LeakyKuhn, LeakyKuhnAfterBet, LeakyDice, LeakyNegotiation, UndeclaredSecret])
def test_check_catches_leaks(cls):
    with pytest.raises(AssertionError, match="depends on hidden information"):
        check(cls())


# ----- other broken games ------------------------------------------------------------------
class AcceptsAnything(SimpleNegotiation):
    def apply(self, action: str) -> None:
        try:
            super().apply(action)
        except IllegalAction:
            self.log.append("Someone mumbled.")  # unreadable text passes the turn


class TooLong(TicTacToe):
    max_turns = 4


class NotZeroSum(TicTacToe):
    def outcome(self):
        result = super().outcome()
        return None if result is None else [1.0, 1.0]


class SharedClone(TicTacToe):
    def clone(self):
        twin = super().clone()
        twin.board = self.board
        return twin


class Unpicklable(TicTacToe):
    def setup(self) -> None:
        super().setup()
        self.hook = lambda: None


class BadSampler(KuhnPoker):
    def sample_action(self, rng):
        return "raise"


class HiddenLegalActions(TicTacToe):
    def observation(self, player: int) -> str:
        lines = super().observation(player).splitlines()
        return "\n".join(line for line in lines if not line.startswith("Legal:"))


class RefusesAListedMove(TicTacToe):
    def legal_actions(self):
        return super().legal_actions() + (["9"] if self.turn == 0 else [])

    def apply(self, action: str) -> None:
        if action == "9":
            raise IllegalAction("no cell 9")
        super().apply(action)


class HalfAppliesBadText(SimpleNegotiation):
    def apply(self, action: str) -> None:
        self.log.append("typing...")  # mutates before it validates
        super().apply(action)


class SeedIgnored(KuhnPoker):
    def setup(self) -> None:
        super().setup()
        self.rng = __import__("random").Random()  # later hands deal from an unseeded rng


@pytest.mark.parametrize("cls, message", [
    (AcceptsAnything, "was accepted"),
    (TooLong, "max_turns"),
    (NotZeroSum, "do not sum to 0"),
    (SharedClone, "clone"),
    (Unpicklable, "pickle"),
    (BadSampler, "sample_action"),
    (HiddenLegalActions, "does not list the legal actions"),
    (RefusesAListedMove, "no cell 9"),
    (HalfAppliesBadText, "changed the state"),
])
def test_check_catches_broken_games(cls, message):
    with pytest.raises(AssertionError, match=message):
        check(cls())


def test_check_catches_nondeterminism():
    with pytest.raises(AssertionError, match="not deterministic"):
        check(SeedIgnored(hands=3))


def test_environments_import_no_torch():
    """Every module under sparring.environments imports without torch (rules stay model-free)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import sparring.environments as env\n"
        "for info in pkgutil.walk_packages(env.__path__, 'sparring.environments.'):\n"
        "    try:\n"
        "        importlib.import_module(info.name)\n"
        "    except ImportError as e:\n"
        "        if 'torch' in str(e): raise\n"
        "        continue  # an optional extra (e.g. textarena) that is not installed\n"
        "    assert 'torch' not in sys.modules, f'importing {info.name} imported torch'\n"
        "print(len(list(pkgutil.walk_packages(env.__path__))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) >= 7
