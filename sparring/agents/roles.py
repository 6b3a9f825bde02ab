"""Roles: what a seat or job asks of the model, and how its answer is read.

A role is a prompt template (system + user message built from the observation), an output
parser, and sampling settings. The same shared model plays every role; only the role differs.
Parsing is strict and never raises: an answer that names no legal action parses to None and the
arena applies its invalid-action rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sparring.types import SamplingParams

_BRACKET = re.compile(r"\[([^\[\]\n]{1,200})\]")


@dataclass(frozen=True)
class Role:
    name: str
    system_prompt: str | None = None
    user_template: str = "{observation}\nAnswer with one legal action in brackets."
    sampling: SamplingParams = field(default_factory=SamplingParams)
    # An answer cut off at max_new_tokens (no end-of-turn token) is invalid. Without this,
    # RL lets the end-of-turn probability drift away (seen here: every completion ran to the
    # cap within 12 steps), since the parser alone only reads the first bracket.
    require_stop: bool = True

    def messages(self, observation: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        msgs.append({"role": "user", "content": self.user_template.format(observation=observation)})
        return msgs

    def parse(self, text: str, legal: list[str] | None) -> str | None:
        """The action named by the first bracketed span (or the bare answer), if legal."""
        match = _BRACKET.search(text)
        candidate = (match.group(1) if match else text).strip()
        if legal is None:
            return candidate or None
        by_lower = {a.lower(): a for a in legal}
        return by_lower.get(candidate.lower())

    @staticmethod
    def format_action(action: str) -> str:
        """How a canonical action is written in a model answer (used by the warm start)."""
        return f"[{action}]"


def seat_roles(game: str, num_players: int, sampling: SamplingParams, shared: bool = False) -> list[Role]:
    """One role per seat (`kuhn_poker/p0`, ...) or, with shared=True, one role for all seats."""
    if shared:
        return [Role(f"{game}/player", sampling=sampling)] * num_players
    return [Role(f"{game}/p{i}", sampling=sampling) for i in range(num_players)]
