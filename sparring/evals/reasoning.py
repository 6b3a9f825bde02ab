"""Reasoning benchmarks: math answers (MATH-500, GSM8K, AIME, AMC) and multiple choice (GPQA,
MMLU-Pro), from a local file or a hub dataset, scored by pass@k and mean accuracy with 95% CIs.

Data. Rows from a ``.jsonl``/``.json`` file (read with ``json``, so a column may mix numbers and
text), a ``.parquet``/``.csv`` file, or a hub id through ``datasets.load_dataset`` (config name,
split). Field names are configurable:

- math: the question in ``problem`` (else ``question``), the answer in ``answer``. A GSM8K answer
  ("<solution> #### 42") keeps only what follows the last ``####``.
- mcq: the question in ``question``, the options in ``options`` (a list) or in one column each
  (``options_field="A,B,C,D"``), the answer in ``answer``: a letter ("B", "(B)"), a 0-based index
  (an int), or the text of one option; it is stored as the option's letter. Anything else is an
  error naming the file, the row and the value. Up to 10 options (A-J).

A missing field is an error naming the file, the field and the columns it has.

Prompt. The question (mcq: then one line per option, "A) ...") and the answer format's
instruction. The default format is ``boxed`` for both kinds: the model may reason first and the
*last* ``\\boxed{}`` is read, whereas ``bracket`` reads the *first* ``[...]``, which in a worked
solution can be a thought, and intervals use brackets. Any format of answer_formats.py can be
chosen; the prompt style (chat template or plain text) resolves against the tokenizer
(prompting.build_role).

Scoring. The role's format extracts the answer; no answer is the outcome ``no_answer``. Math
answers are checked by ``checking.check_answer`` (equal numbers, then math-verify in a worker with
a hard timeout: an overrun is ``check_timeout``, never a hang); an mcq answer is right when its
letter is the gold letter (an answer that is exactly one option's text counts as that option).
Every sample ends as one of correct, wrong, no_answer, check_timeout. A truncated answer is
scored as written (the count of truncated answers is reported).

Metrics, over problems, each with n samples of which c are correct:

- ``<bench>/pass@k``: mean over problems of the unbiased pass@k (humaneval.pass_at_k);
- ``<bench>/mean@n``: mean over problems of c / n, the expected accuracy of one sample (it equals
  pass@1; reported under its own name because it is what "accuracy" means with n samples);
- ``_ci_low`` / ``_ci_high``: a 95% interval over problems. When each problem's value is 0 or 1
  (k = n, e.g. n = 1 accuracy) it is the Wilson score interval of the proportion, which stays
  honest near 0 and 1; otherwise the normal approximation, mean +- 1.96 standard errors of the
  per-problem values, clipped to [0, 1] (zero width when every problem has the same value, e.g.
  all solved). Both treat the problems as a sample from a larger pool.

What it does not do: shuffle options (GPQA's raw "Correct Answer" / "Incorrect Answer" columns need
a preprocessing step that fixes an order), grade free-text answers, or download anything on its
own (a hub id is fetched by ``datasets`` when it is not cached).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparring.agents.answer_formats import FORMATS, answer_instruction
from sparring.agents.policies import ScriptedPolicy
from sparring.agents.prompting import PromptConfig, build_role
from sparring.agents.roles import Role
from sparring.environments.problems.checking import MathVerifier, check_answer, normalize
from sparring.environments.verification.stats import wilson
from sparring.evals.answers import collect_answers, sample_count
from sparring.evals.humaneval import pass_at_k
from sparring.types import SamplingParams

KINDS = ("math", "mcq")
OUTCOMES = ("correct", "wrong", "no_answer", "check_timeout")
LETTERS = "ABCDEFGHIJ"
DEFAULT_FORMAT = {"math": "boxed", "mcq": "boxed"}
DEFAULT_FIELDS = {"math": {"question": ("problem", "question"), "answer": "answer", "options": None},
                  "mcq": {"question": ("question",), "answer": "answer", "options": "options"}}
_ID_FIELDS = ("id", "unique_id", "problem_id", "question_id", "task_id")
_FILE_TYPES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_LETTER = re.compile(r"\(?([A-Ja-j])\)?[.):]?")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str  # math: the gold answer as written; mcq: the gold option's letter
    options: tuple[str, ...] = ()  # mcq only

    def observation(self) -> str:
        if not self.options:
            return self.question
        listed = "\n".join(f"{letter}) {text}" for letter, text in zip(LETTERS, self.options))
        return f"{self.question}\n\n{listed}"


class MissingField(ValueError):
    """A configured field the data does not have; `key` is the loader argument that named it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# ------------------------------------------------------------------------------ loading

def load_questions(kind: str, path: str | Path | None = None, dataset: str | None = None,
                   name: str | None = None, split: str = "test", question_field: str | None = None,
                   answer_field: str | None = None, options_field: str | Sequence[str] | None = None,
                   limit: int | None = None) -> list[Question]:
    """The questions of a local file (`path`) or a hub dataset (`dataset`, `name`, `split`), in
    order; fields default per kind (module docstring); `limit`: the first N."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if (path is None) == (dataset is None):
        raise ValueError("give exactly one of path (a local file) or dataset (a hub id)")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")
    if kind == "math" and options_field is not None:
        raise ValueError("options_field applies to mcq questions only")
    rows, columns, where = _read_rows(path, dataset, name, split)
    defaults = DEFAULT_FIELDS[kind]
    q_field = _pick("question_field", question_field or defaults["question"], columns, where)
    a_field = _pick("answer_field", answer_field or defaults["answer"], columns, where)
    o_fields: list[str] = []
    if kind == "mcq":
        wanted = options_field or defaults["options"]
        names = wanted.split(",") if isinstance(wanted, str) else list(wanted)
        o_fields = [_pick("options_field", n.strip(), columns, where) for n in names if n.strip()]
    id_field = next((f for f in _ID_FIELDS if f in columns), None)
    out = []
    for i, row in enumerate(rows):
        if limit is not None and len(out) == limit:
            break
        at = f"{where}: row {i}"
        question, answer = row.get(q_field), row.get(a_field)
        for key, value in ((q_field, question), (a_field, answer)):
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(f"{at}: field {key!r} is empty")
        ident = str(row[id_field]) if id_field and row.get(id_field) is not None else str(i)
        if kind == "math":
            out.append(Question(ident, str(question), math_answer(answer)))
            continue
        options = _options(row, o_fields, at)
        out.append(Question(ident, str(question), mcq_answer(answer, options, at), options))
    if not out:
        raise ValueError(f"{where}: no questions")
    return out


def math_answer(value) -> str:
    """The gold answer as text; a GSM8K solution ("... #### 42") gives what follows ``####``."""
    text = str(value).strip()
    return text.rsplit("####", 1)[1].strip() if "####" in text else text


def mcq_answer(value, options: Sequence[str], where: str = "") -> str:
    """The letter of the gold option: `value` is a letter, a 0-based index, or an option's text."""
    n = len(options)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < n:
            return LETTERS[value]
    elif isinstance(value, str):
        text = value.strip()
        m = _LETTER.fullmatch(text)
        if m and LETTERS.index(m.group(1).upper()) < n:
            return m.group(1).upper()
        for matches in (lambda o: o.strip() == text, lambda o: normalize(o) == normalize(text)):
            hits = [i for i, o in enumerate(options) if matches(o)]
            if len(hits) == 1:
                return LETTERS[hits[0]]
    raise ValueError(f"{where}: answer {value!r} is not a letter A-{LETTERS[n - 1]}, a 0-based "
                     f"index below {n}, or the text of exactly one option")


def _options(row: dict, fields: list[str], where: str) -> tuple[str, ...]:
    if len(fields) == 1:
        value = row.get(fields[0])
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: options field {fields[0]!r} holds {type(value).__name__}, not "
                             "a list (for one column per option give options_field='A,B,C,D')")
        values = list(value)
    else:
        values = [row.get(f) for f in fields]
    if any(v is None for v in values):
        raise ValueError(f"{where}: an option is empty")
    if not 2 <= len(values) <= len(LETTERS):
        raise ValueError(f"{where}: {len(values)} options; 2 to {len(LETTERS)} are supported")
    return tuple(str(v) for v in values)


def _pick(key: str, wanted: str | tuple[str, ...], columns: list[str], where: str) -> str:
    """The first of `wanted` that is a column, or MissingField naming `key` and the columns."""
    names = (wanted,) if isinstance(wanted, str) else wanted
    for candidate in names:
        if candidate in columns:
            return candidate
    shown = " or ".join(repr(n) for n in names)
    raise MissingField(key, f"{where}: {key} {shown} is not a column; columns: {columns}")


def _read_rows(path, dataset, name, split) -> tuple[list[dict], list[str], str]:
    """(rows, column names, a description for messages) of the file or hub dataset."""
    if path is not None:
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in _FILE_TYPES:
            raise ValueError(f"{path}: unknown file type {suffix!r}; use one of {sorted(_FILE_TYPES)}")
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} does not exist")
        if _FILE_TYPES[suffix] == "json":
            rows = _read_json(path)
        else:
            import datasets

            rows = list(datasets.load_dataset(_FILE_TYPES[suffix], data_files=str(path), split="train"))
        where = str(path)
    else:
        import datasets

        rows = list(datasets.load_dataset(dataset, name, split=split))
        where = f"{dataset}" + (f" ({name})" if name else "") + f" split {split}"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return rows, columns, where


def _read_json(path: Path) -> list[dict]:
    """A JSON list of objects, or one object per line."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not JSON ({e})") from e
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise ValueError(f"{path}: row {bad} is not a JSON object")
    return rows


# ------------------------------------------------------------------------------ the role

_MCQ_ASK = {
    "bracket": "Answer with the letter of the correct option in brackets, e.g. [B].",
    "think": "Think step by step inside <think> </think>, then put the letter of the correct option "
             "within \\boxed{}.",
    "boxed": "Please reason step by step, and put the letter of the correct option within \\boxed{}.",
    "answer_tag": "Think step by step inside <think> </think>, then put the letter of the correct "
                  "option within <answer> </answer>.",
}
_MATH_ASK = {**{fmt: answer_instruction(fmt) for fmt in FORMATS},
             "bracket": "Give your final answer in brackets, e.g. [42]."}
assert set(_MCQ_ASK) == set(FORMATS)


def user_template(kind: str, answer_format: str) -> str:
    asks = _MATH_ASK if kind == "math" else _MCQ_ASK
    return "{observation}\n\n" + asks[answer_format]


def reasoning_role(kind: str, answer_format: str | None = None, style: str = "auto", tokenizer=None,
                   max_new_tokens: int = 1024, temperature: float = 0.0, top_p: float = 1.0) -> Role:
    """The solver role `<kind>/solver`: its format (default per kind), its style resolved against
    `tokenizer` (None: chat, fine for scripted policies)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    fmt = answer_format or DEFAULT_FORMAT[kind]
    if fmt not in FORMATS:
        raise ValueError(f"unknown answer format {fmt!r}; known formats: {sorted(FORMATS)}")
    prompt = PromptConfig(style=style, answer_format=fmt)
    sampling = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    return build_role(prompt, f"{kind}/solver", sampling, tokenizer,
                      default_user=lambda f: user_template(kind, f))


# ------------------------------------------------------------------------------ scoring

@dataclass
class SampleResult:
    id: str
    sample: int
    outcome: str  # OUTCOMES
    extracted: str | None  # what the answer format read
    gold: str
    truncated: bool
    answer: str


@dataclass
class ReasoningReport:
    benchmark: str
    problems: int
    samples: int
    ks: list[int]
    pass_at: dict[int, float]  # k -> mean pass@k over problems
    pass_ci: dict[int, tuple[float, float]]  # k -> 95% interval
    mean: float  # mean@n: mean per-problem accuracy over the n samples
    mean_ci: tuple[float, float]
    correct: list[int]  # per problem (in question order): samples correct out of `samples`
    outcomes: dict[str, int]  # outcome -> count over all samples
    truncated: int = 0
    results: list[SampleResult] = field(default_factory=list)
    generate_s: float = 0.0
    check_s: float = 0.0

    def metrics(self) -> dict[str, float]:
        b, out = self.benchmark, {}
        for k, v in self.pass_at.items():
            lo, hi = self.pass_ci[k]
            out.update({f"{b}/pass@{k}": v, f"{b}/pass@{k}_ci_low": lo, f"{b}/pass@{k}_ci_high": hi})
        n = self.samples
        out.update({f"{b}/mean@{n}": self.mean, f"{b}/mean@{n}_ci_low": self.mean_ci[0],
                    f"{b}/mean@{n}_ci_high": self.mean_ci[1]})
        return out

    def to_json(self) -> dict:
        out = asdict(self)
        out["pass_at"] = {str(k): v for k, v in self.pass_at.items()}
        out["pass_ci"] = {str(k): list(v) for k, v in self.pass_ci.items()}
        out["metrics"] = self.metrics()
        return out


def interval(values: Sequence[float], binary: bool, z: float = 1.96) -> tuple[float, float]:
    """95% interval of the mean of per-problem `values`: Wilson when every value is 0 or 1
    (`binary`), else mean +- z standard errors (sample std), clipped to [0, 1]."""
    n = len(values)
    if binary:
        return wilson(round(sum(values)), n, z)
    if n < 2:
        return 0.0, 1.0
    mean = sum(values) / n
    half = z * math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
    return max(0.0, mean - half), min(1.0, mean + half)


def pass_stats(correct: Sequence[int], samples: int, ks: Sequence[int]):
    """From per-problem correct counts out of `samples`: pass@k and its interval per k, then
    mean@n and its interval (see `interval`): (pass_at, pass_ci, mean, mean_ci)."""
    pass_at, pass_ci = {}, {}
    for k in ks:
        values = [pass_at_k(samples, c, k) for c in correct]
        pass_at[k] = sum(values) / len(values)
        pass_ci[k] = interval(values, binary=k == samples)
    means = [c / samples for c in correct]
    return pass_at, pass_ci, sum(means) / len(means), interval(means, binary=samples == 1)


def judge(question: Question, extracted: str | None, math: MathVerifier | None) -> str:
    """The outcome of one extracted answer (never raises on any text)."""
    if extracted is None:
        return "no_answer"
    if question.options:  # an answer that is exactly one option's text names that option
        hits = [i for i, o in enumerate(question.options) if normalize(o) == normalize(extracted)]
        if len(hits) == 1:
            extracted = LETTERS[hits[0]]
    ok = check_answer(extracted, question.answer, math)
    return "check_timeout" if ok is None else "correct" if ok else "wrong"


def score(questions: Sequence[Question], answers: Sequence[Sequence], role: Role, ks: Sequence[int],
          math: MathVerifier | None = None, benchmark: str = "math") -> ReasoningReport:
    """Score ``answers[i]`` (samples with ``.text`` and ``.truncated``) against question i."""
    samples = sample_count(len(questions), answers, ks, "question")
    t0 = time.perf_counter()
    results, correct = [], []
    for q, group in zip(questions, answers):
        hits = 0
        for s, answer in enumerate(group):
            extracted = role.parse(answer.text, None)
            outcome = judge(q, extracted, math)
            hits += outcome == "correct"
            results.append(SampleResult(q.id, s, outcome, extracted, q.answer, answer.truncated, answer.text))
        correct.append(hits)
    pass_at, pass_ci, mean, mean_ci = pass_stats(correct, samples, ks)
    counts = Counter(r.outcome for r in results)
    return ReasoningReport(
        benchmark=benchmark, problems=len(questions), samples=samples, ks=list(ks), pass_at=pass_at,
        pass_ci=pass_ci, mean=mean, mean_ci=mean_ci,
        correct=correct, outcomes={o: counts[o] for o in OUTCOMES},
        truncated=sum(r.truncated for r in results), results=results, check_s=time.perf_counter() - t0)


async def evaluate(policy, questions: Sequence[Question], role: Role, *, samples: int = 1,
                   ks: Sequence[int] = (1,), math: MathVerifier | None = None,
                   check_timeout_s: float = 10.0, benchmark: str | None = None) -> ReasoningReport:
    """Ask ``policy`` every question ``samples`` times (all at once, so an engine batches them),
    then score. Math questions get a MathVerifier (made and closed here when none is given)."""
    if not questions:
        raise ValueError("no questions")
    benchmark = benchmark or ("mcq" if questions[0].options else "math")
    t0 = time.perf_counter()
    answers = await collect_answers(policy, [(role, q.observation()) for q in questions], samples)
    generate_s = time.perf_counter() - t0
    own = math is None and any(not q.options for q in questions)
    if own:
        math = MathVerifier(timeout_s=check_timeout_s)
    try:
        if math is not None:
            await asyncio.to_thread(math.start)  # the worker's start is not any check's time
        report = await asyncio.to_thread(score, questions, answers, role, ks, math, benchmark)
    finally:
        if own:
            math.close()
    report.generate_s = generate_s
    return report


def canonical_policy(questions: Sequence[Question], role: Role) -> ScriptedPolicy:
    """Answers each question with its gold answer written in `role`'s format: a harness check
    that must score 1.0."""
    by_observation = {q.observation(): role.format_action(q.answer) for q in questions}
    return ScriptedPolicy(lambda observation, legal: by_observation.get(observation, ""))


def load_answers(path: str | Path, questions: Sequence[Question], samples: int) -> dict[str, list[str]]:
    """Answers written elsewhere, from a JSONL file of {"id": <question id>, "answer": <text>}
    lines (ids as the questions have them: their id column, else the row index); exactly
    `samples` lines per question, in sample order. Errors name the file, the line and the id."""
    wanted = {q.id for q in questions}
    out: dict[str, list[str]] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ident, text = str(row["id"]), row["answer"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}: line {n}: want a JSON object with id and answer ({e})") from None
            if ident not in wanted:
                raise ValueError(f"{path}: line {n}: id {ident!r} is not a question of this benchmark")
            out.setdefault(ident, []).append("" if text is None else str(text))
    for q in questions:
        got = len(out.get(q.id, []))
        if got != samples:
            raise ValueError(f"{path}: question {q.id!r} has {got} answers; --samples is {samples}")
    return out


def answers_policy(questions: Sequence[Question], answers: dict[str, list[str]]) -> ScriptedPolicy:
    """Replays `answers` (load_answers): each question's answers in order, one per request."""
    queues = {q.observation(): list(answers[q.id]) for q in questions}
    return ScriptedPolicy(lambda observation, legal: queues[observation].pop(0))


def format_table(report: ReasoningReport) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.benchmark}: {report.problems} problems x {report.samples} samples")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for k, v in report.pass_at.items():
        lo, hi = report.pass_ci[k]
        table.add_row(f"pass@{k}", f"{v:.4f}", f"[{lo:.4f}, {hi:.4f}]")
    lo, hi = report.mean_ci
    table.add_row(f"mean@{report.samples}", f"{report.mean:.4f}", f"[{lo:.4f}, {hi:.4f}]")
    table.add_row("problems solved by any sample", f"{sum(1 for c in report.correct if c)}/{report.problems}", "")
    for outcome, count in report.outcomes.items():
        table.add_row(f"outcome: {outcome}", str(count), "")
    table.add_row("truncated answers", str(report.truncated), "")
    table.add_row("generate / check seconds", f"{report.generate_s:.1f} / {report.check_s:.1f}", "")
    buf = StringIO()
    Console(file=buf, width=100).print(table)
    return buf.getvalue()
