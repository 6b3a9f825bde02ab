"""The engine registry: `engine.backend` in a config names a factory registered here.

A backend is a function `(model, tokenizer, cfg: EngineConfig) -> InferenceEngine`, registered
with `@register_engine("name")`, optionally with a pydantic model for its `engine.options`. The
trainer, opponents (frozen checkpoints, pools) and the CLI all build engines through
`make_engine`, so a new backend (vLLM, an HTTP server) needs no edit anywhere else. HF is built in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from sparring.registry import Registry

if TYPE_CHECKING:
    from sparring.agents.engine import InferenceEngine
    from sparring.config import EngineConfig


_ENGINES: Registry[Callable[..., Any]] = Registry("engine backend")
_OPTIONS: dict[str, type | None] = {}  # backend -> the pydantic model of its `engine.options`


def register_engine(name: str, options: type | None = None):
    """Decorator: register `factory(model, tokenizer, cfg) -> InferenceEngine` as backend `name`;
    `options` is the pydantic model that validates `engine.options` for it."""

    def deco(factory):
        _ENGINES.add(name, factory)
        _OPTIONS[name] = options
        return factory

    return deco


def engine_backends() -> list[str]:
    return _ENGINES.names()


def check_engine_options(backend: str, options: dict) -> None:
    """Validate `options` with the options model of `backend` (a registered name: the config
    checks that first); ValueError naming the bad option."""
    model = _OPTIONS.get(backend)
    if model is None:
        if options:
            raise ValueError(f"engine backend {backend!r} takes no options, got {sorted(options)}")
        return
    model.model_validate(options)


def make_engine(cfg: EngineConfig | None, model, tokenizer) -> InferenceEngine:
    """The engine of `cfg.backend` serving `model` (None: the default HF engine)."""
    if cfg is None:
        from sparring.config import EngineConfig

        cfg = EngineConfig()
    engine = _ENGINES.get(cfg.backend)(model, tokenizer, cfg)
    missing = [name for name in ("generate", "generate_batch", "load_weights", "pause", "metrics", "aclose",
                                 "tokenizer", "pad_id", "eos_id") if not hasattr(engine, name)]
    if missing:
        raise TypeError(f"engine backend {cfg.backend!r} built a {type(engine).__name__} without {missing} "
                        "(the InferenceEngine protocol, sparring/agents/engine.py; subclassing "
                        "sparring.agents.batching_front.BatchingFront gives pause and metrics)")
    return engine


@register_engine("hf")
def _hf_engine(model, tokenizer, cfg: EngineConfig):
    from sparring.agents.hf_engine import HFEngine

    return HFEngine(model, tokenizer, max_batch_size=cfg.max_batch_size, stop_tokens=cfg.stop_tokens,
                    seeded=cfg.seeded_sampling)


def _vllm_options():
    from sparring.agents.vllm_options import VLLMOptions

    return VLLMOptions


@register_engine("vllm", options=_vllm_options())
def _vllm_engine(model, tokenizer, cfg: EngineConfig):
    from sparring.agents.vllm_engine import VLLMEngine
    from sparring.agents.vllm_options import VLLMOptions

    return VLLMEngine(model, tokenizer, VLLMOptions.model_validate(cfg.options), max_batch_size=cfg.max_batch_size,
                      stop_tokens=cfg.stop_tokens, seeded=cfg.seeded_sampling)


def _openai_options():
    from sparring.agents.openai_engine import OpenAIEngineOptions

    return OpenAIEngineOptions


@register_engine("openai", options=_openai_options())
def _openai_engine(model, tokenizer, cfg: EngineConfig):
    from sparring.agents.openai_engine import OpenAIEngine, OpenAIEngineOptions

    return OpenAIEngine(model, tokenizer, OpenAIEngineOptions.model_validate(cfg.options), stop_tokens=cfg.stop_tokens)
