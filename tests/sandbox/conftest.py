"""Fixtures: one warm sandbox per backend for the whole session, and the leak guard.

Missing requirements are failures, not skips: CI installs bubblewrap and starts dockerd
(scripts/install_system.sh); deselect with ``-m "not docker"`` where no engine exists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import ATTACK_LIMITS, HostGuard

from sparring.sandbox import Sandbox

BACKENDS = ["local", pytest.param("docker", marks=pytest.mark.docker)]


@pytest.fixture(scope="session")
def sandbox_pool() -> Iterator[dict[str, Sandbox]]:
    pools: dict[str, Sandbox] = {}
    yield pools
    for sb in pools.values():
        sb.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def sb(backend: str, sandbox_pool: dict[str, Sandbox]) -> Sandbox:
    """A warm sandbox for ``backend`` (started once per session) with the attack limits."""
    if backend not in sandbox_pool:
        sandbox_pool[backend] = Sandbox(backend, workers=2, limits=ATTACK_LIMITS)
    return sandbox_pool[backend]


@pytest.fixture
def guard(sb: Sandbox) -> Iterator[HostGuard]:
    g = HostGuard(sb)
    try:
        yield g
        g.check()
    finally:
        g.close()
