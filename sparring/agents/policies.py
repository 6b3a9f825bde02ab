"""Policies turn an observation into a `Turn`; an `Agent` is a role bound to a policy.

- EnginePolicy: the shared trainable model behind an InferenceEngine (or a frozen copy).
- RandomPolicy: uniform over legal actions (the evaluation baseline).
- ScriptedPolicy: a function from (observation, legal actions) to answer text, run through the
  role's parser exactly like model output, so tests can feed malformed answers.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from sparring.agents.roles import Role, chat_prompt_ids  # noqa: F401  (chat_prompt_ids: re-exported)
from sparring.types import Turn


PROMPT_CACHE_SIZE = 20_000  # tokenised prompts kept per EnginePolicy (least recently used first out)


class Policy(Protocol):
    """`state` is the live game (read-only; clone before exploring) for scripted players such as
    minimax that need the rules state rather than text; model policies ignore it."""

    trainable: bool

    async def act(self, role: Role, player: int, observation: str, legal: list[str] | None, state=None) -> Turn: ...


def _turn(role: Role, player: int, text: str, legal, trainable: bool, prompt=(), completion=(), logprobs=(),
          truncated: bool = False) -> Turn:
    action = None if truncated and role.require_stop else role.parse(text, legal)
    return Turn(
        role=role.name,
        player=player,
        prompt_ids=list(prompt),
        completion_ids=list(completion),
        logprobs=list(logprobs),
        text=text,
        action=action,
        invalid=action is None,
        trainable=trainable,
        truncated=truncated,
    )


class EnginePolicy:
    """Asks an inference engine; trainable unless it serves a frozen opponent."""

    def __init__(self, engine, trainable: bool = True, temperature: float | None = None) -> None:
        self.engine = engine
        self.trainable = trainable
        self.temperature = temperature  # overrides the role's (e.g. greedy evaluation)
        self._prompt_cache: OrderedDict[tuple[Role, str], list[int]] = OrderedDict()

    def prompt_ids(self, role: Role, observation: str) -> list[int]:
        """The role's prompt in its style (chat template or plain text), cached per (role, observation)."""
        key = (role, observation)  # the whole role: two arenas may prompt one role name differently
        ids = self._prompt_cache.get(key)
        if ids is None:
            ids = role.prompt_ids(self.engine.tokenizer, observation)
            self._prompt_cache[key] = ids
            if len(self._prompt_cache) > PROMPT_CACHE_SIZE:  # least recently used out: corpus prompts are
                self._prompt_cache.popitem(last=False)  # long and rarely repeat across steps
        else:
            self._prompt_cache.move_to_end(key)
        return ids

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        sampling = role.sampling
        if self.temperature is not None:
            sampling = replace(sampling, temperature=self.temperature)
        gen = await self.engine.generate(self.prompt_ids(role, observation), sampling)
        return _turn(role, player, gen.text, legal, self.trainable, gen.prompt_ids, gen.completion_ids, gen.logprobs,
                     truncated=gen.finish_reason == "length")


class RandomPolicy:
    trainable = False
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        if legal:
            action = self.rng.choice(legal)
        elif state is not None:  # free-text game: the rules sample a valid action
            action = state.sample_action(self.rng)
        else:
            raise ValueError("RandomPolicy needs enumerable legal actions or the game state")
        return _turn(role, player, role.format_action(action), legal, False)


class ScriptedPolicy:
    """Answers with `script(observation, legal)`; trainable=False unless stated."""

    def __init__(self, script: Callable[[str, list[str] | None], str], trainable: bool = False) -> None:
        self.script = script
        self.trainable = trainable

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        return _turn(role, player, self.script(observation, legal), legal, self.trainable)


@dataclass
class Agent:
    role: Role
    policy: Policy

    async def act(self, player: int, observation: str, legal, state=None) -> Turn:
        return await self.policy.act(self.role, player, observation, legal, state)

