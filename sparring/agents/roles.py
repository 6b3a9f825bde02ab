"""Roles: what a seat or job asks of the model, and how its answer is read.

A role is a prompt (system + user template built from the observation, in one of two styles),
an answer format, and sampling settings. The same shared model plays every role; only the role
differs.

Prompt styles: `chat` renders the messages with the tokenizer's own chat template (instruct
models); `plain` fills a fixed text template (`{system}`, `{user}`) and tokenizes it as is, for
base models without a chat template. Templates are filled by name: `{observation}`, `{system}`
and `{user}` are replaced and every other brace is left alone (a `\\boxed{}` needs no escaping).

Parsing is strict and never raises: the answer format (answer_formats.py) finds the final answer
outside any reasoning; an answer that names no legal action parses to None and the arena applies
its invalid-action rule. Building roles from an arena's `prompt:` config is prompting.py's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sparring.agents.answer_formats import default_user_template, extract_answer, format_answer
from sparring.types import SamplingParams

DEFAULT_USER_TEMPLATE = default_user_template("bracket")  # "{observation}\nAnswer with one legal action in brackets."
#: The plain-style text: `{system}` is the system prompt and a blank line (nothing without one).
DEFAULT_TEXT_TEMPLATE = "{system}{user}\n"
PromptStyle = Literal["chat", "plain"]


def fill(template: str, **values: str) -> str:
    """`template` with each `{name}` of `values` replaced (in one pass); other braces stay."""
    if not values:
        return template
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


@dataclass(frozen=True)
class Role:
    name: str
    system_prompt: str | None = None
    user_template: str = DEFAULT_USER_TEMPLATE
    sampling: SamplingParams = field(default_factory=SamplingParams)
    # An answer cut off at max_new_tokens (no end-of-turn token) is invalid. Without this,
    # RL lets the end-of-turn probability drift away (seen here: every completion ran to the
    # cap within 12 steps), since the parser alone only reads the first bracket.
    require_stop: bool = True
    answer_format: str = "bracket"  # answer_formats.FORMATS
    prompt_style: PromptStyle = "chat"
    text_template: str = DEFAULT_TEXT_TEMPLATE  # the plain style's whole prompt
    chat_opens_reasoning: bool = False  # the chat template's generation prompt ends in <think>
    restate: bool = False  # answers begin with the game's private note (prompt.restate)

    def __post_init__(self) -> None:
        extract_answer(self.answer_format, "")  # an unknown format fails here, naming the known ones
        if self.prompt_style not in ("chat", "plain"):
            raise ValueError(f"role {self.name!r}: prompt style must be 'chat' or 'plain', got {self.prompt_style!r}")

    # ----- the prompt ---------------------------------------------------------------------------
    def user_text(self, observation: str) -> str:
        return fill(self.user_template, observation=observation)

    def messages(self, observation: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        msgs.append({"role": "user", "content": self.user_text(observation)})
        return msgs

    def prompt_text(self, observation: str) -> str:
        """The plain style's prompt: `text_template` with the system prompt and user message."""
        system = f"{self.system_prompt}\n\n" if self.system_prompt else ""
        return fill(self.text_template, system=system, user=self.user_text(observation))

    def prompt_ids(self, tokenizer, observation: str) -> list[int]:
        """Token ids of this role's prompt for `observation`, in its style."""
        if self.prompt_style == "plain":
            return list(tokenizer(self.prompt_text(observation), add_special_tokens=True)["input_ids"])
        if getattr(tokenizer, "chat_template", "") is None:  # (a tokenizer without the attribute: let it try)
            raise ValueError(f"role {self.name!r} uses the chat prompt style, but the tokenizer has no chat "
                             "template; set prompt.style: plain (or auto)")
        return chat_prompt_ids(tokenizer, self.messages(observation))

    @property
    def starts_in_reasoning(self) -> bool:
        """The prompt ends in an open <think>: the completion starts inside the reasoning."""
        if self.prompt_style == "plain":
            return self.text_template.rstrip().endswith("<think>")
        return self.chat_opens_reasoning

    def sft_row(self, observation: str, completion: str) -> dict:
        """One prompt/completion SFT row (TRL's format) in this role's style: chat messages, or
        plain text for the plain style."""
        if self.prompt_style == "plain":
            return {"prompt": self.prompt_text(observation), "completion": completion}
        return {"prompt": self.messages(observation), "completion": [{"role": "assistant", "content": completion}]}

    # ----- the answer ---------------------------------------------------------------------------
    def parse(self, text: str, legal: list[str] | None) -> str | None:
        """The action named by the final answer (answer format), if legal (case-insensitive);
        with `legal` None (free text), the answer itself."""
        return self.match(extract_answer(self.answer_format, text, self.starts_in_reasoning), legal)

    @staticmethod
    def match(candidate: str | None, legal: list[str] | None) -> str | None:
        """The canonical legal action `candidate` names (case-insensitive), or None."""
        if candidate is None:
            return None
        candidate = candidate.strip()
        if legal is None:
            return candidate or None
        by_lower = {a.lower(): a for a in legal}
        return by_lower.get(candidate.lower())

    def format_action(self, action: str, note: str | None = None) -> str:
        """How a canonical action is written in a model answer (the warm start's target); a role
        that restates writes `note` (`Game.private_note`) first."""
        return format_answer(self.answer_format, action, self.starts_in_reasoning, note if self.restate else None)


def chat_prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a chat prompt ending in the assistant header."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    return list(ids)


def seat_role_names(game: str, num_players: int, shared: bool = False) -> list[str]:
    """Role name per seat: `kuhn_poker/p0`, ... or, shared, `kuhn_poker/player` for every seat."""
    return [f"{game}/player"] * num_players if shared else [f"{game}/p{i}" for i in range(num_players)]


def seat_roles(game: str, num_players: int, sampling: SamplingParams, shared: bool = False) -> list[Role]:
    """One default role per seat (`kuhn_poker/p0`, ...) or, with shared=True, one role for all seats;
    prompting.seat_roles_for builds them from an arena's `prompt:` config."""
    if shared:
        return [Role(f"{game}/player", sampling=sampling)] * num_players
    return [Role(name, sampling=sampling) for name in seat_role_names(game, num_players)]
