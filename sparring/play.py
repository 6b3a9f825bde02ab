"""Play a game in the terminal: a human against a model (or humans against each other).

`play_async` runs the turn loop on text streams (stdin/stdout by default, any file-like object in
tests): before a human's move it shows that player's observation (the board, the cards), reads a
move (`4` or `[4]`, case-insensitive), re-prompts with the legal actions on anything else, and
announces every move; at the end it shows the final position and the result. It drives the
same `GameArena` loop as training and evaluation, with a `HumanPolicy` at the humans' seats. The model answers
through its role exactly as in training and evaluation; an answer that names no legal action
forfeits under the same explicit rule as the arenas (after `retries` further attempts).
It does not hide one human's private information from another sharing the terminal, and it
does not play free-text games (those without listed legal actions).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from sparring.agents.answer_formats import extract_answer
from sparring.agents.policies import Policy, _turn
from sparring.agents.prompting import PromptConfig, seat_roles_for
from sparring.agents.roles import Role
from sparring.arenas import GameArena, InvalidActionRule
from sparring.environments import make
from sparring.types import SamplingParams, Turn

QUIT = ("quit", "exit")


class GameAbandoned(Exception):
    """The human quit or the input ended."""


class HumanPolicy:
    """A seat played from a text stream: shows the player's observation, reads a legal move."""

    trainable = False

    def __init__(self, stdin: TextIO, stdout: TextIO, who) -> None:
        self.stdin, self.stdout, self.who = stdin, stdout, who

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        if legal is None:
            raise ValueError("this game takes free-text moves here; sparring play needs listed legal actions")
        print(f"\n--- {self.who(player)} to move ---", file=self.stdout, flush=True)
        print(observation, file=self.stdout, flush=True)
        action = _read_move(self.stdin, self.stdout, role, legal, self.who(player))
        if action is None:
            raise GameAbandoned
        return _turn(role, player, role.format_action(action), legal, False)


async def play_async(game_name: str, policy: Policy | None, human_seats: tuple[int, ...] = (0,), *,
                     game_options: dict | None = None, seed: int = 0, stdin: TextIO | None = None,
                     stdout: TextIO | None = None, sampling: SamplingParams = SamplingParams(max_new_tokens=8, temperature=0.0),
                     invalid: InvalidActionRule = InvalidActionRule(),
                     prompt: PromptConfig | None = None) -> list[float] | None:
    """Play one game through the arena loop; the returns per seat, or None when the input ended
    or a human quit. `prompt`: how the model's seats are prompted and read (an arena's `prompt:`
    section; None: the defaults, the style resolved against the model's tokenizer)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=stdout, flush=True)

    probe = make(game_name, **(game_options or {}))
    probe.reset(seed=seed)
    n = probe.num_players
    bad = [s for s in human_seats if not 0 <= s < n]
    if bad:
        raise ValueError(f"seat {bad[0]} does not exist in {game_name} (seats 0-{n - 1})")
    if policy is None and len(set(human_seats)) < n:
        raise ValueError("a model policy is needed for the seats no human plays")
    if probe.legal_actions() is None:
        raise ValueError(f"{game_name} takes free-text moves; sparring play needs listed legal actions")

    def who(p: int) -> str:
        if p not in human_seats:
            return f"P{p} (model)"
        return f"P{p} (you)" if len(human_seats) == 1 else f"P{p}"

    final = {}

    def watch(game, turn: Turn) -> None:
        final["game"] = game
        if turn.action is None:
            return
        say(f"{who(turn.player)} plays {turn.action}")
        if not game.done and game.current_player not in human_seats and hasattr(game, "render"):
            say(game.render())

    human = HumanPolicy(stdin, stdout, who)
    seats = [human if p in human_seats else policy for p in range(n)]
    tokenizer = getattr(getattr(policy, "engine", None), "tokenizer", None)
    roles = seat_roles_for(prompt, game_name, n, sampling, tokenizer=tokenizer)
    arena = GameArena("play", game_name, roles, human, game_options=game_options,
                      invalid=invalid, seats=seats, watch=watch)
    say(f"{game_name}: " + ", ".join(who(p) for p in range(n)) + f". Type a legal move, or {QUIT[0]!r}.")
    if len(human_seats) > 1 and probe.private_info(human_seats[0]) is not None:
        say("(note: this game has private information and every human sees this terminal)")
    try:
        episode = await arena.play(seed)
    except GameAbandoned:
        say("game abandoned")
        return None
    rewards = episode.rewards
    if episode.forfeit is not None:
        last = episode.turns[-1]
        legal = final["game"].legal_actions() or []
        say(f"{who(episode.forfeit)} answered {last.text!r}: not a legal action ({' '.join(legal)}); it forfeits.")
    else:
        game = final["game"]
        say("\n--- game over ---")
        say(game.render() if hasattr(game, "render") else game.observation(human_seats[0] if human_seats else 0))
    best = max(rewards)
    winners = [p for p, r in enumerate(rewards) if r == best]
    verdict = "draw" if len(winners) == n else " and ".join(who(p) for p in winners) + (" wins" if len(winners) == 1 else " win")
    say("Result: " + ", ".join(f"{who(p)} {r:+g}" for p, r in enumerate(rewards)) + f" ({verdict})")
    return rewards


def _read_move(stdin: TextIO, stdout: TextIO, role, legal: list[str], prompt: str) -> str | None:
    """A legal action typed by the human; None at the end of input or on 'quit'."""
    while True:
        print(f"{prompt}> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if line and not _is_tty(stdin):
            print(line.strip(), file=stdout, flush=True)  # piped input is not echoed by a terminal
        if not line or line.strip().lower() in QUIT:
            print("(end of input)" if not line else "", file=stdout, flush=True)
            return None
        action = role.match(extract_answer("bracket", line.strip()), legal)  # whatever the model's format
        if action is not None:
            return action
        print(f"{line.strip()!r} is not a legal move; legal: {' '.join(legal)}", file=stdout, flush=True)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def play(game_name: str, policy: Policy | None, human_seats: tuple[int, ...] = (0,), **kwargs) -> list[float] | None:
    """Synchronous `play_async`, closing the policy's engine (if any) on the same event loop."""

    async def run():
        try:
            return await play_async(game_name, policy, human_seats, **kwargs)
        finally:
            engine = getattr(policy, "engine", None)
            if engine is not None and hasattr(engine, "aclose"):
                await engine.aclose()

    return asyncio.run(run())
