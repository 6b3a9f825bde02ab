"""OpenSpiel adapter: any sequential OpenSpiel game as a sparring `Game` (`make("openspiel:<game>")`).

`OpenSpielGame("leduc_poker")`, `make("openspiel:liars_dice(numdice=1,dice_sides=4)")`: the spec is
OpenSpiel's own game string (name and parameters), loaded with `pyspiel.load_game`, so the rules
are OpenSpiel's reference implementation, not a re-implementation.

- Actions are OpenSpiel's action strings for the player to move (`action_to_string`): "Pass"/"Bet"
  in Kuhn Poker, "x(1,1)" in TicTacToe, "2-3" or "Liar" in Liar's Dice. Brackets would clash with
  the `[action]` answer format, so a leading player tag such as "[P0]" is dropped and any other
  bracket becomes a parenthesis ("[P0]Bid: 3" -> "Bid: 3"); names that collide are an error.
- Observations are the rules in words (for the games in `RULES`; others say which OpenSpiel game
  it is), the player's seat, the player's information state (perfect recall; the observation
  string for games without one), rendered in words for Kuhn and Leduc Poker, the board for
  TicTacToe and Connect Four, and the legal actions. Nothing else of the state is read, so an
  observation shows exactly what OpenSpiel says the player knows (`private_info` is that string,
  and the checker's leak test holds the rendering to it).
- Chance nodes are resolved as soon as they come up, by drawing from the node's outcome
  distribution with this game's seeded rng: a seed gives the same deal every time.
- Declared properties come from OpenSpiel's GameType: players, zero-sum (Utility.ZERO_SUM), and
  `max_turns` = the game's maximum number of decisions.
- Simultaneous-move games are refused, with the reason; `turn_based=True` plays OpenSpiel's
  turn-based conversion instead (`convert_to_turn_based`: each player moves in turn, without
  seeing the moves made earlier in the same round), which is how Goofspiel is played here.

What it does not do: games with non-terminal rewards are played for their final returns only;
mean-field and simultaneous games (without `turn_based`) and games that provide neither an
information-state nor an observation string are refused. `open_spiel` (a dependency) is imported
lazily, on the first OpenSpiel game.
"""

from __future__ import annotations

import copy
import re
from typing import Hashable

from sparring.environments.base import Game

INSTALL_HINT = "pip install open_spiel (a sparring dependency)"

RULES: dict[str, str] = {
    "kuhn_poker": "Kuhn Poker. Deck J<Q<K, one card each, ante 1 chip each. One betting round: Pass "
                  "(check) or Bet 1; facing a bet: Bet (call) or Pass (fold). The higher card wins the pot "
                  "at showdown; a fold gives the pot to the bettor.",
    "leduc_poker": "Leduc Poker. Deck of six cards: two each of J<Q<K; one private card each, ante 1. "
                   "Two betting rounds; a public card is revealed before the second. Raises are 2 chips in "
                   "round 1 and 4 in round 2, at most two raises a round. Actions: Fold, Call (or check), "
                   "Raise. A pair with the public card beats any unpaired hand; otherwise the higher card wins.",
    "liars_dice": "Liar's Dice. Each player rolls hidden dice. Players take turns bidding 'q-f': at least "
                  "q dice among all players show face f; each bid must be higher than the last. The highest "
                  "face is wild (counts as any face). Instead of bidding you may call 'Liar': the bid is "
                  "checked, and the bidder wins if it holds, else the caller wins.",
    "tic_tac_toe": "TicTacToe on a 3x3 board; x moves first. An action x(r,c) or o(r,c) marks row r, column c "
                   "(0-2). Three of your marks in a row, column or diagonal wins; a full board is a draw.",
    "connect_four": "Connect Four: 7 columns, 6 rows; a disc dropped in a column falls to the lowest free cell. "
                    "An action x3 or o3 drops your disc in column 3 (0-6). Four of your discs in a line "
                    "(row, column or diagonal) wins.",
    "goofspiel": "Goofspiel. Each player holds bid cards 1..N; a deck of point cards 1..N is turned up one "
                 "at a time. Each round every player bids one of their remaining cards without seeing the "
                 "others' bids of that round; the highest bid wins the point card (ties: nobody). After N "
                 "rounds the player with the most points wins.",
}
_PLAYER_TAG = re.compile(r"^\[P\d+\]\s*")
_KUHN_CARDS = "JQK"


def _pyspiel():
    try:
        import pyspiel
    except ImportError as e:
        raise ImportError(f"the OpenSpiel adapter needs the open_spiel package: {INSTALL_HINT}") from e
    return pyspiel


def load(spec: str, turn_based: bool = False):
    """The OpenSpiel game for `spec` (e.g. "goofspiel(num_cards=4)"), checked for what the adapter
    supports; `turn_based` converts a simultaneous-move game to OpenSpiel's turn-based form."""
    pyspiel = _pyspiel()
    try:
        game = pyspiel.load_game(spec)
    except Exception as e:  # noqa: BLE001 (pyspiel raises its own error kinds for bad specs)
        known = sorted(pyspiel.registered_names())
        detail = (str(e).strip().splitlines() or [""])[0][:160]  # pyspiel's message lists every game
        raise KeyError(f"openspiel:{spec}: OpenSpiel cannot load it ({detail}); "
                       f"registered games include {known[:40]}...") from e
    kind = game.get_type()
    simultaneous = kind.dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS
    if simultaneous and turn_based:
        game = pyspiel.convert_to_turn_based(game)
        kind = game.get_type()
    elif simultaneous:
        raise ValueError(f"openspiel:{spec} is a simultaneous-move game; sparring games are sequential "
                         f"(one player acts at a time). Pass turn_based=True (game_options: "
                         f"{{turn_based: true}}) to play OpenSpiel's turn-based conversion, in which each "
                         f"player moves without seeing the others' moves of the same round.")
    if kind.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(f"openspiel:{spec}: only sequential games are supported, not {kind.dynamics}")
    if not (kind.provides_information_state_string or kind.provides_observation_string):
        raise ValueError(f"openspiel:{spec} provides neither an information-state nor an observation string, "
                         f"so there is no text to show a player")
    return game


def action_names(state, player: int) -> dict[str, int]:
    """Canonical action string -> OpenSpiel action id for `player`'s legal actions in `state`."""
    names: dict[str, int] = {}
    for action in state.legal_actions(player):
        text = _PLAYER_TAG.sub("", state.action_to_string(player, action)).replace("[", "(").replace("]", ")")
        text = text.strip() or str(action)
        if text in names:
            raise ValueError(f"openspiel:{state.get_game()}: actions {names[text]} and {action} have the same "
                             f"name {text!r}")
        names[text] = action
    return names


class OpenSpielGame(Game):
    """One OpenSpiel game behind the sparring `Game` contract (see the module docstring).

    spec:        OpenSpiel game string, e.g. "kuhn_poker", "liars_dice(numdice=1,dice_sides=4)"
    turn_based:  play a simultaneous-move game through OpenSpiel's turn-based conversion
    view:        "auto" (the observation string, i.e. the board, for perfect-information games;
                 else the information state), "information_state" or "observation" (imperfect
                 recall where the game defines it so)
    """

    def __init__(self, spec: str, *, turn_based: bool = False, view: str = "auto") -> None:
        super().__init__()
        self.spec = spec
        self.turn_based = turn_based
        self.name = f"openspiel:{spec}"
        self.game = load(spec, turn_based)
        kind = self.game.get_type()
        self.short_name = spec.partition("(")[0]
        self.num_players = self.game.num_players()
        pyspiel = _pyspiel()
        self.zero_sum = kind.utility == pyspiel.GameType.Utility.ZERO_SUM
        self.max_turns = self.game.max_game_length()
        perfect = kind.information == pyspiel.GameType.Information.PERFECT_INFORMATION
        if view == "auto":  # a board for perfect-information games, else the player's recall
            view = "observation" if perfect and kind.provides_observation_string or \
                not kind.provides_information_state_string else "information_state"
        if view not in ("information_state", "observation"):
            raise ValueError(f"{self.name}: view must be auto, information_state or observation, got {view!r}")
        provided = kind.provides_information_state_string if view == "information_state" \
            else kind.provides_observation_string
        if not provided:
            raise ValueError(f"{self.name}: the game provides no {view.replace('_', '-')} string")
        self.view = view
        # without hidden information or chance, the moves say everything (the checker's convention)
        self._public = perfect and kind.chance_mode == pyspiel.GameType.ChanceMode.DETERMINISTIC
        self.state = self.game.new_initial_state()

    def at(self, state) -> "OpenSpielGame":
        """A copy of this game positioned at OpenSpiel `state` of the same game (a clone of it):
        how exploitability evaluation shows the model every information state."""
        if not self._reset_called:
            self.reset(seed=0)
        game = self.clone()
        game.state = state.clone()
        return game

    # ----- rules hooks -----------------------------------------------------------------------
    def setup(self) -> None:
        self.state = self.game.new_initial_state()
        self._resolve_chance()

    def _resolve_chance(self) -> None:
        while self.state.is_chance_node():
            outcomes, probs = zip(*self.state.chance_outcomes())
            self.state.apply_action(self.rng.choices(outcomes, probs)[0])

    def to_move(self) -> int:
        return int(self.state.current_player())

    def legal_actions(self) -> list[str]:
        return list(action_names(self.state, self.to_move()))

    def apply(self, action: str) -> None:
        self.state.apply_action(action_names(self.state, self.to_move())[action])
        self._resolve_chance()

    def observation(self, player: int) -> str:
        if not 0 <= player < self.num_players:
            raise ValueError(f"{self.name}: no player {player} (num_players={self.num_players})")
        rules = RULES.get(self.short_name, f"The OpenSpiel game {self.game.get_type().long_name} ({self.spec}).")
        lines = [rules, f"You are P{player}."]
        lines.append(_render(self.short_name, self.view_string(player), player))
        if not self.state.is_terminal() and self.to_move() == player:
            lines.append("Legal: " + " ".join(f"[{a}]" for a in self.legal_actions()))
        return "\n".join(lines)

    def outcome(self) -> list[float] | None:
        return [float(r) for r in self.state.returns()] if self.state.is_terminal() else None

    def private_info(self, player: int) -> Hashable:
        """OpenSpiel's view string for `player` (everything it knows, so the observation is a
        function of it alone); None in deterministic perfect-information games."""
        return None if self._public else self.view_string(player)

    def view_string(self, player: int) -> str:
        """The information-state or observation string OpenSpiel gives `player` (per `view`)."""
        if self.view == "information_state":
            return self.state.information_state_string(player)
        return self.state.observation_string(player)

    # ----- pickling: the game object is rebuilt from its spec, the state from its history ----
    def __getstate__(self) -> dict:
        return dict(self.__dict__, game=None, state=self.state.history())

    def __setstate__(self, saved: dict) -> None:
        self.__dict__.update(saved)
        self.game = load(self.spec, self.turn_based)
        self.state = self.game.new_initial_state()
        for action in saved["state"]:
            self.state.apply_action(action)

    def __deepcopy__(self, memo: dict) -> "OpenSpielGame":
        copy_ = object.__new__(type(self))
        copy_.__dict__.update(self.__dict__)
        copy_.rng = copy.deepcopy(self.rng, memo)  # Game.clone passes its cheap rng copy in memo
        copy_.state = self.state.clone()
        return copy_


# ----- observations in words --------------------------------------------------------------------
def _render(short_name: str, info: str, player: int) -> str:
    render = _RENDERERS.get(short_name)
    text = render(info, player) if render is not None else None
    return text if text is not None else f"What you know (OpenSpiel's view):\n{info}"


def _kuhn(info: str, player: int) -> str | None:
    """'1pb' -> card Q, then pass, bet; P0 acts first."""
    if not re.fullmatch(r"[012][pb]*", info):
        return None
    moves = [f"P{i % 2} {'pass' if m == 'p' else 'bet'}" for i, m in enumerate(info[1:])]
    pot = 2 + info[1:].count("b")
    return f"Your card: {_KUHN_CARDS[int(info[0])]}.\nBetting: {', '.join(moves) or 'none'}. Pot {pot}."


_LEDUC_FIELD = re.compile(r"\[([A-Za-z0-9 ]+?): ?([^\]]*)\]")
_LEDUC_MOVES = {"0": "fold", "1": "call", "2": "raise"}


def _leduc(info: str, player: int) -> str | None:
    """'[Observer: 0][Private: 3][Round 2]...[Public: 0][Round1: 1 1][Round2: ]' in words."""
    fields = dict(_LEDUC_FIELD.findall(info))
    if "Private" not in fields or "Round1" not in fields:
        return None
    card = lambda c: _KUHN_CARDS[int(c) // 2]  # noqa: E731 (six cards: two suits of J, Q, K)
    money = fields.get("Money", "").split()
    lines = [f"Your card: {card(fields['Private'])}."]
    if fields.get("Public", "").strip():
        lines.append(f"Public card: {card(fields['Public'])}.")
    for rnd in ("Round1", "Round2"):
        moves = [_LEDUC_MOVES.get(m, m) for m in fields.get(rnd, "").split()]
        lines.append(f"Round {rnd[-1]} betting: {', '.join(moves) or 'none'}.")
    lines.append(f"Pot {fields.get('Pot', '?')}." + (f" Chips left: you {money[player]}, opponent "
                                                     f"{money[1 - player]}." if len(money) == 2 else ""))
    return "\n".join(lines)


def _liars_dice(info: str, player: int) -> str | None:
    """'1 1-2 2-1' -> your dice 1, bids 1-2, 2-1 (bidders alternate from P0)."""
    parts = info.split()
    dice = [p for p in parts if p.isdigit()]
    bids = parts[len(dice):]
    if not dice:
        return None
    said = [f"P{i % 2} {b}" for i, b in enumerate(bids)]
    return f"Your dice: {' '.join(dice)}.\nBids so far: {', '.join(said) or 'none'}."


def _board(mark_first: str, mark_second: str):
    def render(info: str, player: int) -> str:
        return f"You play {mark_first if player == 0 else mark_second}. Board:\n{info.strip()}"
    return render


_RENDERERS = {"kuhn_poker": _kuhn, "leduc_poker": _leduc, "liars_dice": _liars_dice,
              "tic_tac_toe": _board("x", "o"), "connect_four": _board("x", "o")}
