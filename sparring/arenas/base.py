"""The arena plugin API: an `Arena` base class whose hooks the trainer calls, and a registry of kinds.

An arena kind is a subclass registered with `@register_arena("kind")` that names its pydantic
config model (`config_model`, a subclass of `sparring.config.ArenaConfig`) and builds itself
from that config and an `ArenaContext` (`from_config`). The experiment config's `arenas:` list is
validated against the registered kinds, and the trainer only ever calls the hooks below, so a
new kind (in sparring or in a user's package) needs no edit of the trainer or of rollout.

Every hook but `play_step` has a no-op default; an arena whose episodes are independent can
implement `play(seed)` instead and inherit `play_step`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sparring.agents.request_seeds import episode_stream
from sparring.registry import Registry
from sparring.types import Episode, SamplingParams

if TYPE_CHECKING:
    from sparring.config import ArenaConfig, ClusterConfig, EngineConfig, EvalConfig, ModelConfig, WarmStartConfig


@dataclass
class ArenaContext:
    """What the trainer hands an arena kind when it builds one."""

    policy: Any  # the shared trainable model behind the rollout engine (an EnginePolicy)
    engine: Any  # the rollout engine (InferenceEngine), e.g. for a greedy evaluation policy
    tokenizer: Any
    sampling: SamplingParams  # the run's sampling settings (roles may override the token cap)
    seed: int  # the run seed
    index: int  # the arena's position in `arenas:` (distinct seeds per arena)
    run_dir: Path | None = None  # where the arena may keep files (buffers, opponent snapshots)
    model: Any = None  # the learner's model at build time (e.g. the first snapshot of a pool)
    model_config: ModelConfig | None = None
    engine_config: EngineConfig | None = None
    cluster: ClusterConfig | None = None  # the run's cluster (e.g. its sandbox actors); None: one process


class Arena:
    """Base class of every arena kind. The trainer calls `prepare` once before its first step, then
    per step: `before_step` -> `play_step` -> `metrics` -> (update) -> `after_update`, and `evaluate`,
    `warm_start_rows`, `state_dict`/`load_state_dict` and `aclose` when it needs them."""

    kind: ClassVar[str] = ""  # set by register_arena
    config_model: ClassVar[type | None] = None  # the kind's pydantic config (an ArenaConfig subclass)
    name: str = "arena"

    @classmethod
    def from_config(cls, cfg: ArenaConfig, ctx: ArenaContext) -> Arena:
        """Build the arena from its validated config; every kind implements this."""
        raise NotImplementedError(f"arena kind {cls.kind!r} ({cls.__qualname__}) does not implement from_config")

    async def play(self, seed: int) -> Episode:
        """One independent episode; arenas whose step has phases override `play_step` instead."""
        raise NotImplementedError(f"arena {self.name!r} implements neither play_step nor play")

    async def play_step(self, step: int, seeds: list[int]) -> list[Episode]:
        """All of this step's episodes, one seed each (seeds derive from run seed, step, arena).
        Each episode draws its request seeds from its own stream (engine.seeded_sampling)."""
        return list(await asyncio.gather(*[self._play_seeded(s) for s in seeds]))

    async def _play_seeded(self, seed: int) -> Episode:
        with episode_stream(seed):
            return await self.play(seed)

    def metrics(self, episodes: list[Episode]) -> dict[str, float]:
        """The arena's own metrics for this step's episodes (namespaced keys)."""
        return {}

    async def evaluate(self, cfg: EvalConfig) -> dict[str, float]:
        """Evaluation metrics (`eval/<arena>/...`); called every `eval.every` steps, at the start
        with `eval.at_start`, and by `sparring train` after the last step when either is set."""
        return {}

    @classmethod
    def warm_start_rows(cls, cfg: ArenaConfig, ctx: ArenaContext, warm_start: WarmStartConfig, count: int) -> list[dict]:
        """About `count` SFT rows ({"prompt": messages, "completion": messages}) that teach this
        kind's answer format; [] when it has none. A classmethod: the warm start runs before the
        model, and so the arena, exists (`ctx` carries no policy or engine then)."""
        return []

    @classmethod
    def report_charts(cls, name: str, keys: list[str]) -> list[tuple[str, list[str]]]:
        """Arena-specific panels of `sparring report` for the arena `name`: (title, metric keys)
        pairs chosen from the run's `keys`. A classmethod: reports read finished runs."""
        return []

    async def prepare(self, show_progress: bool = True) -> dict[str, float]:
        """One-off work before the first step that needs the policy but is no training step (e.g.
        Absolute Zero's seeding stage). Called once per `Trainer.train`, after a resumed run's
        `load_state_dict` (so state can say the work is done) and before the training progress bar
        starts (so it may show its own when `show_progress`). Returns metrics logged at step 0."""
        return {}

    def before_step(self, step: int) -> None:
        """Called before the step's rollout (e.g. a pool of opponents resamples)."""

    def after_update(self, step: int, model: Any) -> None:
        """Called after the policy update of `step` with the learner's model."""

    def state_dict(self) -> dict | None:
        """Resumable state saved in every checkpoint; None when there is none."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""

    async def aclose(self) -> None:
        """Release engines, sandboxes and other resources."""


_ARENAS: Registry[type[Arena]] = Registry("arena kind")


def register_arena(kind: str):
    """Class decorator: register an `Arena` subclass as arena kind `kind` (its `config_model`
    must be an ArenaConfig subclass whose `kind` field defaults to `kind`)."""

    def deco(cls: type[Arena]) -> type[Arena]:
        from sparring.config import ArenaConfig

        if not (isinstance(cls, type) and issubclass(cls, Arena)):
            raise TypeError(f"register_arena({kind!r}): {cls!r} is not a subclass of sparring.arenas.Arena")
        model = cls.config_model
        if not (isinstance(model, type) and issubclass(model, ArenaConfig)):
            raise TypeError(f"register_arena({kind!r}): {cls.__qualname__}.config_model must be a subclass of "
                            f"sparring.config.ArenaConfig, got {model!r}")
        default = model.model_fields["kind"].default
        if default != kind:
            raise TypeError(f"register_arena({kind!r}): {model.__qualname__}.kind must default to {kind!r}, got {default!r}")
        cls.kind = kind
        return _ARENAS.add(kind, cls)

    return deco


def arena_class(kind: str) -> type[Arena]:
    """The registered arena class of `kind` (KeyError naming the known kinds)."""
    import sparring.arenas  # noqa: F401  (registers the built-in kinds)

    return _ARENAS.get(kind)


def arena_kinds() -> list[str]:
    import sparring.arenas  # noqa: F401

    return _ARENAS.names()


def build_arena(cfg: ArenaConfig, ctx: ArenaContext) -> Arena:
    arena = arena_class(cfg.kind).from_config(cfg, ctx)
    if not isinstance(arena, Arena):
        raise TypeError(f"arena kind {cfg.kind!r}: from_config returned {type(arena).__name__}, not an Arena")
    return arena
