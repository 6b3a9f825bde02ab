"""Configuration of the task arena (`kind: tasks`) and of the checking stages any task arena can
switch on: verification (RISE), self-correction (SPOC) and judging (pointwise, pairwise, rubric,
meta-judge)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sparring.agents.prompting import PromptConfig
from sparring.config import ArenaConfig, LocalPath, _Strict


class TaskSourceConfig(_Strict):
    """Where problems come from: exactly one of `generator`, `path` or `dataset`."""

    generator: Literal["arithmetic"] | None = None
    """A generated family that needs no files: arithmetic (a op b over small operands, or with op
    ">" which of two numbers is larger), each problem with a reference candidate that is right or
    a typical slip, and a held-out split by problem."""
    ops: str = "+-"
    """arithmetic: the operations used, from "+-*>" (">": which of two numbers is larger)."""
    max_operand: int = Field(20, ge=1, le=10_000)
    """arithmetic: operands are 0..max_operand."""
    split: Literal["train", "heldout"] = "train"
    """arithmetic: which split of the problem space (held-out problems are never in train)."""
    heldout_fraction: float = Field(0.2, ge=0.0, le=1.0)
    """arithmetic: the share of problems in the held-out split."""
    correct_share: float = Field(0.5, ge=0.0, le=1.0)
    """arithmetic: the probability that a reference candidate is right."""
    path: LocalPath = None
    """A local .jsonl/.json, .parquet or .csv file of problems."""
    dataset: str | None = None
    """A `datasets.load_dataset` id (hub or local script)."""
    name: str | None = None
    """The dataset's configuration name."""
    data_split: str = "train"
    """The dataset split to read."""
    question_field: str = "question"
    """The column with the question."""
    answer_field: str | None = "answer"
    """The column with the gold answer; null: the problems have none (only a judge can score them)."""
    candidates_field: str | None = None
    """A column of reference candidate answers (a string or a list), for verifying fixed data."""
    limit: int | None = Field(None, ge=1)
    """Read at most this many problems."""

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("generator", "path", "dataset") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of generator, path or dataset (got {given or 'none'})")
        return self


class VerificationConfig(_Strict):
    """A verifier turn after the solver's (RISE): the model sees the problem and a candidate
    answer and says whether it is right; it is paid for agreeing with the ground truth."""

    candidates: Literal["self", "cross", "reference"] = "self"
    """Whose answer is verified: self (each solver sample's own answer: RISE), cross (another
    sample of the same problem), reference (the problem's reference candidates: fixed data, or the
    arithmetic generator's right and corrupted answers)."""
    show: Literal["answer", "solution"] = "solution"
    """What the verifier sees of a solver's candidate: its extracted answer, or its whole
    completion (reasoning included). Reference candidates are answers only."""
    class_weights: Literal["none", "balanced"] | dict[Literal["correct", "incorrect"], float] = "balanced"
    """Weight of the agreement reward per ground-truth class: balanced (per step, n / (2 n_class),
    so a verifier that always says "correct" earns no more than chance), none, or fixed weights."""
    scoring: Literal["binary", "brier"] = "binary"
    """binary: agreement 1 / 0; brier: the verdict carries a confidence ("correct, 0.8") and the
    reward is 1 - (p_correct - truth)^2."""
    invalid_penalty: float = -1.0
    """Reward of an unreadable verdict."""
    samples: int = Field(1, ge=1)
    """Verdicts sampled per candidate, one GRPO group: with more than one, each verdict is compared
    with the other verdicts on the same candidate (grpo, dr_grpo), not with other candidates."""
    max_new_tokens: int = Field(16, ge=1)
    """Completion cap of a verifier turn."""


class SelfCorrectionConfig(_Strict):
    """SPOC: one trajectory of solve -> verify -> revise, until the model judges its answer right
    or the rounds run out; the final answer is rewarded, each verification by agreement."""

    rounds: int = Field(2, ge=1, le=8)
    """Most verify -> revise rounds after the first answer."""
    class_weights: Literal["none", "balanced"] | dict[Literal["correct", "incorrect"], float] = "balanced"
    """Weight of each verification's agreement reward per ground-truth class (as verify.class_weights)."""
    invalid_penalty: float = -1.0
    """Reward of an unreadable verdict."""
    max_new_tokens: int = Field(16, ge=1)
    """Completion cap of a verification turn."""


class JudgeConfig(_Strict):
    """A judge scores solver answers. On problems with a gold answer it is trained on agreement
    with the truth; on problems without one its score is the solver's reward and the judge turn is
    not trained (judging never rewards itself)."""

    mode: Literal["pointwise", "pairwise", "rubric"] = "pointwise"
    """pointwise: a 1-10 score per answer, mapped to (s-1)/9; pairwise: which of two answers to the
    same problem is better (needs samples >= 2); rubric: the judge writes 2..rubric_items criteria,
    then marks each yes/no for the answer (score: the share passed)."""
    meta: bool = False
    """pointwise: judge each answer twice and ask a meta-judge which judgement is more accurate
    (trained where the truth is known; elsewhere its pick is the score used)."""
    rubric_items: int = Field(5, ge=2, le=10)
    """rubric: the most criteria a rubric may have."""
    calibration: TaskSourceConfig | None = None
    """Verifiable problems mixed into every step's judge batch (solver answers to them are not
    trained): what trains the judge when the arena's own problems have no gold answers."""
    calibration_per_step: int = Field(16, ge=0)
    """Calibration problems per step."""
    invalid_penalty: float = -1.0
    """Reward of an unreadable judgement."""
    max_new_tokens: int = Field(16, ge=1)
    """Completion cap of a judge turn (a rubric turn gets four times this)."""


class ProposerConfig(_Strict):
    """A proposer role writes new questions (Multi-Agent Evolve): it sees example questions from
    the source and writes one; solvers answer it and the judge scores them. Proposed questions
    have no gold answer, so the arena needs a judge."""

    examples: int = Field(3, ge=0)
    """Example questions from the source shown to the proposer."""
    max_chars: int = Field(300, ge=10)
    """A proposed question longer than this (or empty) is invalid."""
    invalid_penalty: float = -1.0
    """Reward of an invalid proposal."""
    max_new_tokens: int = Field(48, ge=1)
    """Completion cap of a proposer turn."""


class TaskArenaConfig(ArenaConfig):
    kind: str = "tasks"
    """Arena kind: problems with answers (generated, a file or a dataset), solved by the model,
    with optional verification, self-correction, judging and proposing."""
    name: str = "tasks"
    """Arena name, used in metric keys and advantage keys (arena, role)."""
    episodes_per_step: int = Field(32, ge=1)
    """Problems per step (each answered `samples` times)."""
    source: TaskSourceConfig = TaskSourceConfig(generator="arithmetic")
    """Where the training problems come from."""
    eval_source: TaskSourceConfig | None = None
    """Held-out problems for `evaluate` (greedy solver accuracy; verifier and judge agreement)."""
    check: Literal["auto", "exact", "numeric", "mcq", "math"] = "auto"
    """How an answer is checked against the gold (problems/checking.py); math needs math-verify."""
    samples: int = Field(4, ge=1)
    """Solver answers per problem (one GRPO group)."""
    train_solver: bool = True
    """Train the solver's turns; false to train only the checking roles on the solver's answers."""
    solver_max_new_tokens: int = Field(32, ge=1)
    """Completion cap of a solver turn."""
    invalid_penalty: float = -1.0
    """Solver reward of an unreadable answer (a right one earns 1, a wrong one 0)."""
    verify: VerificationConfig | None = None
    """Switch on a verifier turn after each solver answer (RISE)."""
    self_correction: SelfCorrectionConfig | None = None
    """Switch solver turns to solve -> verify -> revise trajectories (SPOC)."""
    judge: JudgeConfig | None = None
    """Switch on a judge that scores solver answers."""
    propose: ProposerConfig | None = None
    """Switch on a proposer that writes the questions (needs a judge)."""
    prompt: PromptConfig = PromptConfig()
    """Prompt style, answer format and system prompt of the roles (solver, verifier, judge,
    meta_judge, proposer; per-role overrides under prompt.roles)."""

    @model_validator(mode="after")
    def _stages_fit(self):
        if self.verify is not None and self.self_correction is not None:
            raise ValueError("verify and self_correction both add verifier turns; choose one (self_correction "
                             "already rewards each verification)")
        if self.verify is not None and self.verify.candidates == "cross" and self.samples < 2:
            raise ValueError("verify.candidates: cross needs samples >= 2 (another sample's answer to verify)")
        if self.judge is not None and self.judge.mode == "pairwise" and self.samples < 2:
            raise ValueError("judge.mode: pairwise needs samples >= 2 (two answers to compare)")
        if self.judge is not None and self.judge.meta and self.judge.mode != "pointwise":
            raise ValueError("judge.meta compares two pointwise judgements; it needs judge.mode: pointwise")
        if self.propose is not None and self.judge is None:
            raise ValueError("propose needs judge: proposed questions have no gold answer")
        if self.source.answer_field is None and self.judge is None:
            raise ValueError("source.answer_field is null (no gold answers): add a judge to score the answers")
        if self.self_correction is not None and (self.judge is not None or self.propose is not None):
            raise ValueError("self_correction needs gold answers and takes no judge or proposer")
        return self
