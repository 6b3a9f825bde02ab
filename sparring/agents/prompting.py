"""An arena's `prompt:` config and the roles built from it.

What a role asks and how its answer is read is configured per arena: the prompt style (the
tokenizer's chat template, or a plain text prompt for a base model), the answer format
(answer_formats.py), the system prompt and user template, and per-role overrides. The defaults
(auto style on a tokenizer with a chat template, bracket answers, no system prompt, the original
user template) build exactly the roles `roles.seat_roles` builds.

Not here: reading answers (answer_formats.py) or rendering prompts (roles.Role).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from sparring.agents.answer_formats import AnswerFormat, default_user_template
from sparring.agents.roles import DEFAULT_TEXT_TEMPLATE, Role, seat_role_names
from sparring.config import _Strict
from sparring.types import SamplingParams


class RolePromptConfig(_Strict):
    """One role's departures from the arena's prompt settings (null: the arena's)."""

    system: str | None = None
    """This role's system prompt; null: the arena's; "" for none even where the arena has one."""
    user: str | None = None
    """This role's user template (must contain {observation}), e.g. to brief one seat differently;
    null: the arena's `user`, or the default of this role's answer format."""
    answer_format: AnswerFormat | None = None
    """This role's answer format; null: the arena's."""

    @model_validator(mode="after")
    def _user_shows_the_observation(self):
        _check_user(self.user, "user")
        return self


class PromptConfig(_Strict):
    """How a game arena's roles prompt the model and read its answers."""

    style: Literal["auto", "chat", "plain"] = "auto"
    """chat: the tokenizer's own chat template (instruct models); plain: the fixed text prompt
    `text` (base models without a chat template); auto: chat when the tokenizer has a chat
    template, else plain. chat with a tokenizer that has none is an error."""
    answer_format: AnswerFormat = "bracket"
    """Where the answer is read: bracket (the first [action]; small models, no reasoning), think
    (reasoning in <think></think>, then the answer, ideally \\boxed{action}; reasoning models),
    boxed (the last \\boxed{action}: math-style instruct models), answer_tag (the last
    <answer>action</answer>). Every format ignores text inside <think> blocks."""
    system: str | None = None
    """System prompt of every role (chat: a system message; plain: where `text` has {system});
    null: none. Use it for rules or a persona every seat shares."""
    user: str | None = None
    """User message template, with {observation} where the game's observation goes; null:
    "{observation}" on one line and the answer format's instruction on the next (for bracket:
    "Answer with one legal action in brackets."). Set it to reword the task or the format ask."""
    text: str = DEFAULT_TEXT_TEMPLATE
    """The whole prompt of the plain style, with {user} (the filled user template) and optionally
    {system} (the system prompt and a blank line, or nothing). End it with <think> to make the
    model start reasoning (the answer is then read after the </think>); ignored by chat."""
    restate: bool = False
    """Every answer first restates the player's private information in a few tokens (the game's
    `private_note`: Kuhn Poker's card, Liar's Dice's own dice), then gives the action ("J [bet]";
    with reasoning formats, inside the <think> block). The warm start teaches the restatement
    (copied from the observation; the actions stay random). Use it with small models on
    hidden-information games: predicting the note first keeps the model encoding its private
    information where it answers (a copy task; the note must be the model's own output for
    that); the tiny model's Kuhn Poker self-play otherwise stays card-blind for hundreds of
    steps (docs/experiments.md). The
    exploitability evaluation then sums each action's probability over every note."""
    roles: dict[str, RolePromptConfig] = {}
    """Per-role overrides by role name (`<game>/p0`, `<game>/p1`, ..., or `<game>/player` with
    shared_role): when one seat needs another system prompt, template or answer format."""

    @model_validator(mode="after")
    def _templates_have_their_slots(self):
        _check_user(self.user, "user")
        if "{user}" not in self.text:
            raise ValueError(f"text must contain {{user}} (where the user message goes), got {self.text!r}")
        return self

    def check_roles(self, known: list[str]) -> None:
        """Every override names a role the arena has (a typo would silently do nothing)."""
        unknown = [name for name in self.roles if name not in known]
        if unknown:
            raise ValueError(f"prompt.roles.{unknown[0]}: no such role in this arena; its roles: "
                             f"{sorted(set(known))}")


def _check_user(user: str | None, key: str) -> None:
    if user is not None and "{observation}" not in user:
        raise ValueError(f"{key} must contain {{observation}} (where the game's observation goes), got {user!r}")


def resolve_style(style: str, tokenizer) -> Literal["chat", "plain"]:
    """auto -> chat when `tokenizer` has a chat template, else plain (no tokenizer: chat; such
    roles are only read, e.g. by scripted or human players). chat without a template is an error."""
    has_template = tokenizer is None or getattr(tokenizer, "chat_template", "") is not None
    if style == "auto":
        return "chat" if has_template else "plain"
    if style == "chat" and not has_template:
        raise ValueError("prompt.style: chat needs a tokenizer with a chat template, and this model's tokenizer "
                         "has none (a base model); use style: plain (or auto)")
    if style not in ("chat", "plain"):
        raise ValueError(f"prompt.style must be auto, chat or plain, got {style!r}")
    return style


def chat_opens_reasoning(tokenizer) -> bool:
    """Whether the tokenizer's generation prompt ends in <think> (e.g. DeepSeek-R1 distills)."""
    if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
        return False
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                             add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - a template that needs more than one message: assume not
        return False
    return isinstance(text, str) and text.rstrip().endswith("<think>")


def build_role(prompt: PromptConfig, name: str, sampling: SamplingParams, tokenizer=None,
               default_user=default_user_template) -> Role:
    """The role `name` as `prompt` configures it, its style resolved against `tokenizer`.
    Precedence: the role's override, then the arena's setting, then `default_user(format)`."""
    style = resolve_style(prompt.style, tokenizer)
    mine = prompt.roles.get(name, RolePromptConfig())
    fmt = mine.answer_format or prompt.answer_format
    system = mine.system if mine.system is not None else prompt.system
    user = mine.user or prompt.user or default_user(fmt)
    return Role(name, system_prompt=system or None, user_template=user, sampling=sampling, answer_format=fmt,
                prompt_style=style, text_template=prompt.text,
                chat_opens_reasoning=style == "chat" and chat_opens_reasoning(tokenizer), restate=prompt.restate)


def seat_roles_for(prompt: PromptConfig | None, game: str, num_players: int, sampling: SamplingParams,
                   shared: bool = False, tokenizer=None) -> list[Role]:
    """One role per seat (or one shared role) built from `prompt` (None: the defaults)."""
    prompt = prompt or PromptConfig()
    names = seat_role_names(game, num_players, shared)
    prompt.check_roles(names)
    roles = {name: build_role(prompt, name, sampling, tokenizer) for name in dict.fromkeys(names)}
    return [roles[name] for name in names]
