"""Configuration of the corpus arena (`kind: corpus`): where documents come from, how the
challenger writes tasks and is paid, and how the reasoner's answers are labelled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sparring.agents.prompting import PromptConfig
from sparring.config import ArenaConfig, LocalPath, _Strict
from sparring.environments.corpus import CorpusSource


class CorpusSourceConfig(_Strict):
    """Where documents come from: exactly one of `stdlib`, `path` or `dataset`."""

    stdlib: bool = False
    """The offline default: docstrings of the installed Python standard library (modules,
    classes, functions), read from its source files at run time; nothing is downloaded."""
    path: LocalPath = None
    """A local .jsonl/.json, .parquet, .csv or .txt file, or a folder of .txt/.md files."""
    dataset: str | None = None
    """A `datasets.load_dataset` id (hub or local script)."""
    name: str | None = None
    """The dataset's configuration name."""
    split: str = "train"
    """The dataset split to read."""
    text_field: str = "text"
    """The column that holds a document's text (files with columns)."""
    chunk_chars: int = Field(1500, ge=100)
    """Long texts are cut into documents of at most this many characters (at paragraph or
    sentence ends); keep documents well inside the model's context with the prompt around them."""
    min_chars: int = Field(200, ge=1)
    """Documents shorter than this are dropped (too little to ask about)."""
    streaming: bool = False
    """Read the corpus lazily through a shuffle buffer instead of into memory: for corpora larger
    than memory (resuming re-reads the stream up to where it stopped)."""
    shuffle_buffer: int = Field(1000, ge=1)
    """streaming: documents held in the shuffle buffer."""
    limit: int | None = Field(None, ge=1)
    """Read at most this many rows of the source."""

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("stdlib", "path", "dataset") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of stdlib: true, path or dataset (got {given or 'none'})")
        return self

    def to_source(self) -> CorpusSource:
        return CorpusSource(**self.model_dump())


class ChallengerConfig(_Strict):
    """The challenger reads a document and writes a question with its gold answer."""

    formats: list[Literal["mcq", "free"]] = Field(["mcq", "free"], min_length=1)
    """Task formats, taken in turn per document: mcq (four options, one letter) or free (a
    number, expression or a few words)."""
    grounded: bool = True
    """Show the challenger a document (SPICE); false: no document, the challenger writes from
    what it knows (R-Zero)."""
    per_document: int = Field(2, ge=1)
    """Tasks written per document: one GRPO group of the challenger."""
    reward: Literal["spice", "uncertainty", "learnability"] = "spice"
    """spice: a Gaussian of the reasoner's pass-rate variance p(1-p), peaking at p = 1/2;
    uncertainty: R-Zero's 1 - 2|p - 1/2| less its BLEU repetition penalty; learnability:
    Absolute Zero's 1 - p (0 where p is 0 or 1)."""
    width: float = Field(0.01, gt=0.0)
    """spice: the Gaussian's variance in p(1-p) units (smaller: only tasks near p = 1/2 pay)."""
    repetition_threshold: float = Field(0.5, gt=0.0, le=1.0)
    """uncertainty: questions closer than this in 1 - BLEU are one cluster (R-Zero: 0.5)."""
    repetition_weight: float = Field(1.0, ge=0.0)
    """uncertainty: weight of the repetition penalty (the question's cluster share of the batch)."""
    invalid_penalty: float = -0.1
    """Reward of a task that fails validation (counted by reason)."""
    max_question_chars: int = Field(600, ge=10)
    """A longer question is invalid."""
    max_answer_chars: int = Field(40, ge=1)
    """free: a longer gold answer is invalid (answers are short by design: checkable)."""
    document_chars: int = Field(1500, ge=50)
    """The document is cut to this many characters in the challenger's prompt."""
    max_new_tokens: int = Field(256, ge=1)
    """Completion cap of a challenger turn."""


class ReasonerConfig(_Strict):
    """The reasoner answers each valid task without the document, `samples` times."""

    samples: int = Field(4, ge=1)
    """Answers sampled per task (K): the pass rate's denominator and one GRPO group."""
    labels: Literal["gold", "majority"] = "gold"
    """gold: answers are checked against the challenger's gold answer (SPICE); majority: against
    the majority answer of the K samples, no gold needed (R-Zero's pseudo-labels)."""
    band: float | None = Field(0.25, ge=0.0, le=0.5)
    """majority: train the reasoner only on tasks whose majority share p has |p - 1/2| <= band
    (R-Zero's filter); null: on every labelled task. Ignored with gold labels."""
    train: bool = True
    """Train the reasoner's turns; false to train only the challenger."""
    max_new_tokens: int = Field(64, ge=1)
    """Completion cap of a reasoner turn."""


class BenchmarkConfig(_Strict):
    """A reasoning benchmark the arena's evaluation runs (`eval.every`): the reasoner's prompt
    settings and token cap, `eval.temperature`; metrics eval/<arena>/<name>/pass@k, mean@n."""

    kind: Literal["math", "mcq"]
    """math: (problem, answer) rows as in MATH-500 / GSM8K / AIME / AMC; mcq: (question, options,
    answer letter) rows as in GPQA / MMLU-Pro."""
    name: str | None = None
    """Its name in metric keys (default: the kind)."""
    path: LocalPath = None
    """A local .jsonl/.json, .parquet or .csv file."""
    dataset: str | None = None
    """A `datasets.load_dataset` id."""
    dataset_name: str | None = None
    """The dataset's configuration name (e.g. main for gsm8k)."""
    split: str = "test"
    """The dataset split to read."""
    question_field: str | None = None
    """The question column (default: math problem, else question; mcq question)."""
    answer_field: str | None = None
    """The answer column (default answer; GSM8K's "... #### 42" keeps 42)."""
    options_field: str | None = None
    """mcq: a list column (default options), or one column per option: "A,B,C,D"."""
    limit: int | None = Field(None, ge=1)
    """The first N questions only."""
    samples: int = Field(1, ge=1)
    """Answers per question (pass@1 and mean@n; pass@n too when n > 1)."""

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.dataset is None):
            raise ValueError("give exactly one of path or dataset")
        return self


class CorpusArenaConfig(ArenaConfig):
    kind: str = "corpus"
    """Arena kind: a challenger writes tasks from documents, a reasoner answers them without."""
    name: str = "corpus"
    """Arena name, used in metric keys and advantage keys (arena, role)."""
    episodes_per_step: int = Field(8, ge=1)
    """Documents per step (each gets `challenger.per_document` tasks)."""
    corpus: CorpusSourceConfig = CorpusSourceConfig(stdlib=True)
    """Where documents come from (default: the standard library's docstrings, offline)."""
    challenger: ChallengerConfig = ChallengerConfig()
    """How tasks are written, validated and paid."""
    reasoner: ReasonerConfig = ReasonerConfig()
    """How tasks are answered and labelled."""
    math_timeout_s: float = Field(10.0, gt=0.0)
    """Per-check timeout of math-verify on a free-form answer (the check then counts as wrong)."""
    samples_per_step: int = Field(4, ge=0)
    """(document, question, gold, answers) records appended to <run dir>/corpus_samples.jsonl
    per step, for reading by eye; 0: none."""
    benchmarks: list[BenchmarkConfig] = []
    """Reasoning benchmarks run at each evaluation, answered by the reasoner (greedy by default)."""
    prompt: PromptConfig = PromptConfig()
    """Prompt style, answer format and system prompt of the roles (challenger, reasoner; per-role
    overrides under prompt.roles)."""

    @model_validator(mode="after")
    def _labels_fit(self):
        if self.reasoner.labels == "majority" and self.reasoner.samples < 2:
            raise ValueError("reasoner.labels: majority needs reasoner.samples >= 2 (a vote)")
        return self
