"""The arena plugin API: registration, config validation by kind, hooks with no-op defaults, a
trainer and rollout that name no kind, and GRPO groups declared by an arena (grpo != trr++)."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
from pydantic import field_validator
from pydantic_core import PydanticCustomError

from sparring.agents import ScriptedPolicy
from sparring.arenas import Arena, ArenaContext, arena_kinds, register_arena
from sparring.config import AdvantageConfig, ArenaConfig, ConfigError, load_config
from sparring.training import rollout
from sparring.training.credit import AdvantageAssigner
from sparring.types import Episode, SamplingParams, Turn

REPO = Path(__file__).resolve().parents[2]


def _example_arena():
    spec = importlib.util.spec_from_file_location("arithmetic_arena", REPO / "examples" / "arithmetic_arena.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_trainer_and_rollout_name_no_arena_kind_and_use_no_hasattr():
    for name in ("trainer.py", "rollout.py"):
        src = (REPO / "sparring" / "training" / name).read_text()
        assert "hasattr(" not in src and "getattr(" not in src, name
        for kind in arena_kinds():
            assert not re.search(rf"[\"']{kind}[\"']", src), f"{name} names arena kind {kind!r}"
        assert "GameArena" not in src and "AbsoluteZero" not in src, name


def test_example_arena_is_short():
    assert len((REPO / "examples" / "arithmetic_arena.py").read_text().splitlines()) < 100


def test_grpo_and_trr_plus_plus_differ_on_an_arena_with_several_prompts_per_role():
    module = _example_arena()
    problems = iter(["[1+2]", "[3+4]"])
    answers = {"What is 1+2?": iter(["[3]", "[5]"]), "What is 3+4?": iter(["[7]", "[7]"])}

    def script(observation, legal):
        return next(problems) if observation == "" else next(answers[observation])

    cfg = module.ArithmeticConfig(name="arith", samples=2)
    arena = module.ArithmeticArena(cfg, ScriptedPolicy(script, trainable=True), SamplingParams(8))
    episodes = asyncio.run(arena.play_step(0, [10, 11]))
    solves = [e for e in episodes if e.task == "solve"]
    assert [e.rewards[0] for e in solves] == [1.0, 0.0, 1.0, 1.0]
    assert [e.group for e in solves] == ["1+2", "1+2", "3+4", "3+4"]

    def advantages(name):
        samples = AdvantageAssigner(AdvantageConfig(estimator=name)).assign(episodes)
        return {role: [s.advantage for s in samples if s.role == role] for role in ("arithmetic/solver", "arithmetic/setter")}

    grpo, trr = advantages("grpo"), advantages("trr_plus_plus")
    # grpo: within each problem. 1+2 scored [1, 0]: mean 0.5, std 0.7071 -> +-0.7071; 3+4 scored
    # [1, 1]: std 0 -> 0. trr++: within the role. [1, 0, 1, 1]: mean 0.75, std 0.5 -> 0.5, -1.5, 0.5, 0.5.
    assert grpo["arithmetic/solver"] == pytest.approx([0.70711, -0.70711, 0.0, 0.0], abs=1e-4)
    assert trr["arithmetic/solver"] == pytest.approx([0.5, -1.5, 0.5, 0.5], abs=1e-4)
    # setters declared no group: one group per role, so grpo equals trr++ there. Rewards: solved
    # half the time -> 1.0, always -> 0.0.
    assert grpo["arithmetic/setter"] == trr["arithmetic/setter"] == pytest.approx([0.70711, -0.70711], abs=1e-4)


class EchoConfig(ArenaConfig):
    kind: str = "test_echo"
    """Arena kind."""
    word: str = "hi"
    """What the single role is asked to repeat."""


@register_arena("test_echo")
class EchoArena(Arena):
    """Only `play` and `from_config`: every other hook is the base class's no-op."""

    config_model = EchoConfig

    def __init__(self, cfg, policy):
        self.name, self.cfg, self.policy = cfg.name, cfg, policy

    @classmethod
    def from_config(cls, cfg, ctx):
        return cls(cfg, ctx.policy)

    async def play(self, seed: int) -> Episode:
        turn = Turn("echo", 0, [1], [2], [-0.1], self.cfg.word)
        return Episode(self.name, "echo", seed, [turn], [float(seed % 2)], ["echo"])


def test_a_kind_with_only_play_runs_through_rollout_with_default_hooks():
    arena = EchoArena(EchoConfig(name="e"), policy=None)
    loop = asyncio.new_event_loop()
    try:
        episodes, stats = rollout.collect([(arena, 4)], step=0, run_seed=0, loop=loop)
        assert len(episodes) == 4 and stats["rollout/episodes"] == 4.0
        assert loop.run_until_complete(arena.evaluate(None)) == {}
        loop.run_until_complete(arena.aclose())
    finally:
        loop.close()
    assert arena.state_dict() is None and arena.metrics(episodes) == {}
    assert EchoArena.warm_start_rows(EchoConfig(name="e"), None, None, 10) == []


def test_user_kinds_validate_with_their_own_config_model_and_located_errors():
    cfg = load_config(data={"arenas": [{"kind": "test_echo", "name": "e", "word": "yo"}]})
    assert isinstance(cfg.arenas[0], EchoConfig) and cfg.arenas[0].word == "yo"
    assert cfg.model_dump()["arenas"][0]["word"] == "yo"  # the kind's fields survive serialisation
    with pytest.raises(ConfigError) as err:
        load_config(data={"arenas": [{"name": "g", "game": "kuhn_poker"}, {"kind": "test_echo", "name": "e", "wrod": 1},
                                     {"kind": "nope", "name": "n"}]})
    msg = str(err.value)
    assert "arenas.1.wrod: unknown key" in msg
    assert "arenas.2.kind: unknown arena kind 'nope'" in msg and "test_echo" in msg and "imports" in msg


class StrictEchoConfig(ArenaConfig):
    kind: str = "test_strict_echo"
    """Arena kind."""
    word: str = "hi"
    """Must be lower case (a custom error type from the user's own validator)."""

    @field_validator("word")
    @classmethod
    def _lower(cls, v):
        if v != v.lower():
            raise PydanticCustomError("not_lower", "word {word} must be lower case", {"word": v})
        return v


@register_arena("test_strict_echo")
class StrictEchoArena(EchoArena):
    config_model = StrictEchoConfig


def test_a_user_models_custom_error_is_reported_at_its_key():
    with pytest.raises(ConfigError, match=r"arenas\.0\.word: word HI must be lower case"):
        load_config(data={"arenas": [{"kind": "test_strict_echo", "name": "e", "word": "HI"}]})


def test_register_arena_checks_the_class_and_its_config_model():
    with pytest.raises(TypeError, match="not a subclass of sparring.arenas.Arena"):
        register_arena("test_bad")(object)
    with pytest.raises(TypeError, match="config_model must be a subclass"):
        register_arena("test_bad")(type("NoConfig", (Arena,), {}))
    with pytest.raises(TypeError, match="kind must default to 'test_other'"):
        register_arena("test_other")(type("Mismatch", (Arena,), {"config_model": EchoConfig}))


def test_context_carries_what_a_kind_needs():
    ctx = ArenaContext(policy="p", engine="e", tokenizer=None, sampling=SamplingParams(), seed=3, index=1)
    arena = EchoArena.from_config(EchoConfig(name="x"), ctx)
    assert arena.policy == "p" and torch.is_tensor(torch.zeros(1))
