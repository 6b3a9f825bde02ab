"""Configuration of the Absolute Zero arena kind (`kind: absolute_zero`), registered with its arena."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sparring.config import ArenaConfig, _Strict


class AZRewardConfig(_Strict):
    scheme: Literal["paper", "code", "none"] = "paper"
    """Format-aware penalties (absolute_zero/rewards.py): 'paper' (eq. 6: proposer bad format -1, parsed
    but invalid -0.5, valid but unlearnable 0; solver bad format -1, wrong -0.5), 'code' (the released AZR
    code: any invalid proposal -1, valid but unlearnable -0.5; solver as 'paper'), 'none' (all 0)."""
    induction_scoring: Literal["all", "fraction"] = "all"
    """Induction solver score on held-out pairs: 'all' (1 iff every pair passes; AZR's 'binary') or 'fraction'."""
    complexity_coef: float = Field(0.0, ge=0.0)
    """Proposer bonus per unit of AST complexity (nodes / 100), deduction/abduction, when learnable; 0: off."""
    complexity_max: float = Field(0.5, ge=0.0)
    """Cap of the complexity bonus."""
    diversity_coef: float = Field(0.0, ge=0.0)
    """Proposer bonus per unit of mean AST edit distance to the references, when learnable; 0: off."""
    diversity_max: float = Field(0.5, ge=0.0)
    """Cap of the diversity bonus."""


class AZBufferConfig(_Strict):
    cap: int = Field(4096, ge=1)
    """Entries kept per task type; past it the oldest non-seed entry is evicted (FIFO)."""
    recency: float = Field(3.0, ge=0.0)
    """Sampling weight rises linearly with insertion order: the newest weighs 1 + recency times the oldest."""


class AZSandboxConfig(_Strict):
    backend: Literal["local", "docker", "unsafe"] = "local"
    """Sandbox backend that validates proposals and checks answers."""
    workers: int = Field(0, ge=0)
    """Sandbox worker processes; 0: one per CPU."""
    timeout_s: float = Field(2.0, gt=0.0, lt=3600.0)
    """Wall-clock limit of one call of f."""
    memory_mb: int = Field(256, ge=48)
    """Address-space limit of a program's process."""


class AbsoluteZeroArenaConfig(ArenaConfig):
    kind: str = "absolute_zero"
    """Arena kind: Absolute Zero self-play (propose -> validate -> solve over code tasks)."""
    name: str = "absolute_zero"
    """Arena name, used in metric keys and TRR++ keys (arena, '<task>/<proposer|solver>')."""
    episodes_per_step: int = Field(64, ge=1)
    """Proposals per task type per step; the solve phase trains as many solver tasks per type (paper: 64)."""
    task_types: list[Literal["deduction", "abduction", "induction"]] = ["deduction", "abduction", "induction"]
    """Task types played; each has a proposer and a solver role."""
    references: int = Field(6, ge=0)
    """K: reference triplets from the task's buffer shown to a deduction/abduction proposer (paper: 6)."""
    mc_samples: int = Field(8, ge=1)
    """N: solver rollouts per valid proposal at the training temperature, for its learnability; not trained
    (paper: 8)."""
    induction_inputs: int = Field(6, ge=2)
    """Inputs an induction proposer is asked for; the solver sees the first half of the pairs, the rest held out."""
    proposer_max_new_tokens: int = Field(512, ge=1)
    """Completion cap of a proposer turn."""
    solver_max_new_tokens: int = Field(512, ge=1)
    """Completion cap of a solver turn."""
    reward: AZRewardConfig = AZRewardConfig()
    """Penalties, induction scoring and optional proposer bonuses."""
    buffer: AZBufferConfig = AZBufferConfig()
    """Task buffers (seeded with the identity program)."""
    sandbox: AZSandboxConfig = AZSandboxConfig()
    """Where proposals are validated and answers checked."""
    export_buffers: bool = True
    """Write the buffers as JSONL to <run dir>/absolute_zero/<name>/buffers.jsonl after every step."""

    @model_validator(mode="after")
    def _distinct_task_types(self):
        if not self.task_types or len(set(self.task_types)) != len(self.task_types):
            raise ValueError(f"task_types must be non-empty and distinct, got {self.task_types}")
        return self
