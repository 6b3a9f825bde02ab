"""Configuration of the Absolute Zero arena kind (`kind: absolute_zero`), registered with its arena."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sparring.arenas.tasks_config import VerificationConfig
from sparring.config import ArenaConfig, LocalPath, _Strict
from sparring.environments.absolute_zero.prompts import AZR_TEXT, SYSTEM_PROMPT


class AZRewardConfig(_Strict):
    scheme: Literal["paper", "code", "none"] = "code"
    """Format-aware penalties (absolute_zero/rewards.py): 'code' (the released AZR reward manager, which
    produced the paper's results: any invalid proposal -1, valid but unlearnable -0.5; solver bad format
    -1, wrong -0.5), 'paper' (the paper's eq. 6 as written: parsed but invalid -0.5, valid but
    unlearnable 0; otherwise as 'code'), 'none' (all 0)."""
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


class AZChecksConfig(_Strict):
    """Where the released AZR code judges differently and the difference changes results
    (docs/absolute_zero.md lists every difference, including those where sparring stays stricter)."""

    equality: Literal["strict", "release"] = "strict"
    """How a solver's output is compared with the expected one: strict (by value with types strict at
    every level: 1 != 1.0 != True) or release (Python ==, as the released code: 1 == 1.0 == True)."""
    helpers: bool = True
    """Allow helper functions (any def besides f: helpers, nested functions, methods) in a proposed
    program; false: the release's rule, one def in the whole program, else 'multiple_functions'."""


class AZSeedConfig(_Strict):
    """The seeding stage (the released code's seed set): before RL, the model proposes, untrained,
    until every task buffer holds `size` valid entries; triplets from `path` are loaded first."""

    size: int = Field(0, ge=0)
    """Entries wanted per task buffer before RL, the identity seed included (release: batch 64 x
    seed_batch_factor 4 = 256); 0: no seeding rounds."""
    max_rounds: int = Field(100, ge=1)
    """Proposal rounds (episodes_per_step proposals per task type still short) before giving up and
    starting RL with what there is (a warning says how far each buffer got)."""
    path: LocalPath = None
    """JSONL of seed tasks, one per line: {task?, program (or snippet), input or inputs, output(s)?,
    message?}; each is validated in the sandbox like a proposal, invalid lines are logged by file and
    line and skipped. Without task: a list of 2+ inputs is induction, one input goes to deduction and
    abduction (environments/absolute_zero/seeds.py). Loaded before any proposal, whatever `size`."""


class AZGrammarConfig(_Strict):
    """Programs restricted to the tiny grammar (environments/absolute_zero/grammar.py: compositions
    of a few primitives over small ints and short lists), for models too small to write Python:
    a deduction/abduction proposal outside it is rejected (`outside_grammar`), the deduction and
    abduction buffers start from generated triplets of the grammar's training split, and the format
    warm start writes grammar programs (solver rows answer with another task's answer: format only)."""

    seed_triplets: int = Field(64, ge=0)
    """Generated (program, input, output) triplets added per task buffer as seeds (never evicted)."""
    heldout_fraction: float = Field(0.3, ge=0.0, lt=1.0)
    """Share of the program space (by program text) held out: never seeded or warm-started, so a
    held-out evaluation set drawn from it measures generalisation to unseen programs."""
    max_depth: int = Field(2, ge=1, le=4)
    """Most primitives chained in a generated program."""


class AZSandboxConfig(_Strict):
    backend: Literal["local", "docker", "unsafe"] = "local"
    """Sandbox backend that validates proposals and checks answers."""
    workers: int = Field(0, ge=0)
    """Sandbox worker processes; 0: one per CPU."""
    timeout_s: float = Field(2.0, gt=0.0, lt=3600.0)
    """Wall-clock limit of one call of f."""
    memory_mb: int = Field(256, ge=48)
    """Address-space limit of a program's process."""


class AZPromptConfig(_Strict):
    """How the six roles are prompted and where their answers are read."""

    style: Literal["auto", "chat", "plain"] = "auto"
    """chat: the tokenizer's chat template (instruct models); plain: the text prompt `text`, for a
    base model as in AZR; auto: chat when the tokenizer has a chat template, else plain."""
    answer_format: Literal["tags", "answer_tag"] = "tags"
    """tags: the code block and <input>/<output>/<message> tags anywhere outside <think> blocks
    (the original format); answer_tag: AZR's format, every role's answer (those blocks and tags,
    or for a solver the bare answer) read only from inside the final <answer></answer> after the
    reasoning. Use answer_tag with the AZR plain prompt or any reasoning model."""
    system: str | None = SYSTEM_PROMPT
    """System prompt of every role (chat; plain only where `text` has {system}); null: none."""
    user: str | None = None
    """User message template with {observation} (the task); null: "{observation}" for tags, and
    for answer_tag the observation and a line asking for the answer inside <answer></answer>."""
    text: str = AZR_TEXT
    """The whole prompt of the plain style, with {user} (and optionally {system}); the default is
    AZR's base-model prompt, which ends in <think> so the model starts reasoning."""

    @model_validator(mode="after")
    def _templates_have_their_slots(self):
        if self.user is not None and "{observation}" not in self.user:
            raise ValueError(f"user must contain {{observation}} (where the task goes), got {self.user!r}")
        if "{user}" not in self.text:
            raise ValueError(f"text must contain {{user}} (where the user message goes), got {self.text!r}")
        return self


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
    solver_samples: int = Field(1, ge=1)
    """Answers per solve-phase task, one group (Episode.group) per task; the solve phase then takes
    episodes_per_step / solver_samples tasks per type, so the trained answers per step stay
    episodes_per_step. 1 is the paper (TRR++ baselines per (task, role)). Above 1, for a group
    estimator on the solver roles (`advantages.per_role`: grpo, dr_grpo, maxrl): each answer is
    judged against the other answers to the same task, meant for a solver that is rarely right
    (measured on the tiny grammar: within noise of 1; docs/experiments.md)."""
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
    checks: AZChecksConfig = AZChecksConfig()
    """Output equality and helper functions: sparring's rules or the released code's."""
    seed: AZSeedConfig = AZSeedConfig()
    """Seeding stage before RL: a seed set of valid tasks proposed by the model (untrained) and/or read
    from a file; resumable from <run dir>/absolute_zero/<name>/seed.jsonl."""
    grammar: AZGrammarConfig | None = None
    """Restrict programs to the tiny grammar (seed set, warm start, validation); null: any Python."""
    eval_triplets: LocalPath = None
    """A JSONL file of held-out triplets in the buffers' export format ({task, program, input,
    output}; deduction and abduction lines are used) that `evaluate` gives the greedy solvers:
    eval/<arena>/<task>/heldout_accuracy and eval/<arena>/heldout_accuracy, checked in the sandbox."""
    export_buffers: bool = True
    """Write the buffers as JSONL to <run dir>/absolute_zero/<name>/buffers.jsonl after every step."""
    prompt: AZPromptConfig = AZPromptConfig()
    """Prompt style (chat template or AZR's plain base-model prompt), system prompt and answer
    format (tags, or answer_tag: the final <answer> span) of the six roles."""
    verify: VerificationConfig | None = None
    """Switch on a verifier role (RISE): after the solve phase, the model judges each trained
    solver answer (candidates: self), paid for agreeing with the sandbox's check. Its verdict is
    read from brackets, or from <answer></answer> under prompt.answer_format: answer_tag."""

    @model_validator(mode="after")
    def _verify_own_answers(self):
        if self.verify is not None and self.verify.candidates != "self":
            raise ValueError(f"verify.candidates: {self.verify.candidates!r} is not available in the Absolute Zero "
                             "arena; it verifies the solvers' own answers (self)")
        return self

    @model_validator(mode="after")
    def _seed_below_cap(self):
        if self.seed.size >= self.buffer.cap:
            raise ValueError(f"seed.size ({self.seed.size}) must be below buffer.cap ({self.buffer.cap}): seeds are "
                             "never evicted, so a buffer full of them would never take a new proposal")
        return self

    @model_validator(mode="after")
    def _distinct_task_types(self):
        if not self.task_types or len(set(self.task_types)) != len(self.task_types):
            raise ValueError(f"task_types must be non-empty and distinct, got {self.task_types}")
        return self
