"""Shared fixtures: a session-private model cache and one small tiny model built once per session.

Every test that needs a model uses `tiny_path` (a Qwen3 of 2 layers, width 64) so that the suite
stays fast on a 2-core CPU. `SPARRING_CACHE` points at a session tmp dir, so nothing outside the
test session is read or written, and subprocesses (`sparring train`) get the same cache via
`subprocess_env`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


SMALL_SPEC_KW = dict(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128)
SMALL_MODEL_YAML = "{hidden_size: 64, num_layers: 2, num_heads: 2, num_kv_heads: 1, intermediate_size: 128}"


@pytest.fixture(scope="session", autouse=True)
def sparring_cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sparring_cache")
    old = os.environ.get("SPARRING_CACHE")
    os.environ["SPARRING_CACHE"] = str(path)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    yield path
    if old is None:
        os.environ.pop("SPARRING_CACHE", None)
    else:
        os.environ["SPARRING_CACHE"] = old


@pytest.fixture(scope="session")
def small_spec_kw() -> dict:
    """The small model's `model.tiny` settings, for tests that build a config (a conftest module
    cannot be imported by name: tests/sandbox has its own conftest)."""
    return dict(SMALL_SPEC_KW)


@pytest.fixture(scope="session")
def small_spec():
    from sparring.agents.models import TinySpec

    return TinySpec(**SMALL_SPEC_KW)


@pytest.fixture(scope="session")
def tiny_path(sparring_cache, small_spec) -> str:
    """Directory of the small tiny model (built once per session in the session cache)."""
    from sparring.agents.models import build_tiny

    path = build_tiny(small_spec)
    assert Path(path).is_relative_to(sparring_cache)
    return str(path)


@pytest.fixture(scope="session")
def tokenizer(tiny_path):
    from sparring.agents.models import load_tokenizer

    return load_tokenizer(tiny_path)


@pytest.fixture
def tiny_model(tiny_path):
    """A fresh float32 copy of the small tiny model (tests may modify it)."""
    from sparring.agents.models import load_model

    return load_model(tiny_path)


@pytest.fixture(scope="session")
def kuhn_prompts(tokenizer) -> list[list[int]]:
    """Chat prompts of real Kuhn Poker observations, of several different lengths."""
    from sparring.agents.policies import chat_prompt_ids
    from sparring.agents.roles import Role
    from sparring.environments import make

    role = Role("kuhn_poker/p0")
    prompts = []
    for seed, hands in [(0, 1), (1, 2), (2, 3), (3, 1), (4, 2), (5, 4)]:
        game = make("kuhn_poker", hands=hands)
        game.reset(seed=seed)
        for _ in range(seed % 3):  # some prompts after a few moves
            game.step(game.legal_actions()[0])
        prompts.append(chat_prompt_ids(tokenizer, role.messages(game.observation(game.current_player))))
    assert len({len(p) for p in prompts}) > 2, "want prompts of different lengths (left padding)"
    return prompts


@pytest.fixture(scope="session")
def subprocess_env(sparring_cache) -> dict[str, str]:
    env = dict(os.environ)
    env["SPARRING_CACHE"] = str(sparring_cache)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pytest_collection_modifyitems(config, items):
    """The in-process vLLM engine tests run last. Building a vLLM engine changes process-wide CPU
    kernel state on some machines (seen on this project's CI kind: afterwards this process's HF
    log-probs differ from a fresh process's by ~1e-7), and the cluster tests compare what fresh
    rollout workers produce with this process's own run bit for bit."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/agents/test_vllm_engine.py"))
