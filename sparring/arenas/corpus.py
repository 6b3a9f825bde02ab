"""The corpus arena (`kind: corpus`): a challenger mines documents for tasks, a reasoner solves them
without the document (SPICE); or, ungrounded with majority-vote labels, R-Zero.

Each step (`play_step`):
  1. documents: `episodes_per_step` from the corpus sampler (deterministic, reuse counted);
  2. challenge: `challenger.per_document` tasks per document (one GRPO group), each in the
     document's format (mcq or free), parsed and validated (environments/challenges/tasks.py);
  3. reason: `reasoner.samples` answers per valid task (one GRPO group per task), the reasoner
     seeing the question only;
  4. label: each answer against the gold answer (mcq: the letter; free: numbers and math through
     math-verify in a worker with a timeout, else normalised text), or against the majority
     answer (R-Zero; the reasoner is trained only on tasks inside the pass-rate band);
  5. pay: the challenger from the pass rate (SPICE / uncertainty with repetition penalty /
     learnability), an invalid task the invalid penalty; the reasoner 1 for a right answer, 0
     otherwise (an unreadable answer too, counted as `answer_rate`).
Roles: `challenger`, `reasoner`, each with its own baseline (arena, role).

Not here: reading documents (environments/corpus), task parsing and the reward formulas
(environments/challenges), answer checks (environments/problems/checking.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sparring.agents.answer_formats import answer_span
from sparring.agents.prompting import build_role
from sparring.agents.roles import Role
from sparring.arenas.base import Arena, ArenaContext, register_arena
from sparring.arenas.corpus_config import CorpusArenaConfig
from sparring.arenas.verification import checking_user_template
from sparring.agents.policies import EnginePolicy
from sparring.config import EvalConfig, WarmStartConfig
from sparring.environments.challenges import INVALID_REASONS, Challenge, parse_challenge
from sparring.environments.challenges.diversity import distinct_n, repetition_penalties, self_bleu
from sparring.environments.challenges.rewards import answer_key, challenger_reward, in_band, majority_vote
from sparring.environments.challenges.tasks import TaskFormat, format_instructions
from sparring.environments.corpus import Document, DocumentSampler
from sparring.environments.problems.arithmetic import OPS, all_corruptions
from sparring.environments.problems.arithmetic import question as arithmetic_question
from sparring.environments.problems.checking import MathVerifier, check, check_answer
from sparring.evals.reasoning import evaluate as evaluate_reasoning
from sparring.evals.reasoning import load_questions, reasoning_role
from sparring.training.metrics import log_sizes, truncate_logs
from sparring.types import Episode, SamplingParams, Turn

ROLES = ("challenger", "reasoner")
MCQ_ASK = "Answer with the letter of the correct option."
PASS_BINS = ("p0", "p0_25", "p25_50", "p50_75", "p75_100", "p100")


def pass_bin(rate: float) -> str:
    """The histogram bin of a pass rate: exactly 0, (0, .25], (.25, .5], (.5, .75], (.75, 1), exactly 1."""
    if rate <= 0.0:
        return "p0"
    if rate >= 1.0:
        return "p100"
    return PASS_BINS[1 + min(3, int((rate - 1e-9) // 0.25))]


def challenger_user_template(fmt: str) -> str:
    """The challenger's user message: the observation (document and form) plus, for formats with
    a place for the answer, where the task goes."""
    if fmt == "think":
        return "{observation}\nThink in <think></think> first, then write the task."
    if fmt == "answer_tag":
        return "{observation}\nWrite the task inside <answer></answer>."
    return "{observation}"


def challenger_observation(document: Document | None, fmt: TaskFormat, chars: int) -> str:
    head = f"Document:\n{document.text[:chars]}\n\n" if document is not None else ""
    return head + format_instructions(fmt)


def reasoner_observation(challenge: Challenge) -> str:
    return challenge.prompt() + (f"\n{MCQ_ASK}" if challenge.format == "mcq" else "")


def make_roles(cfg: CorpusArenaConfig, sampling: SamplingParams, tokenizer=None) -> dict[str, Role]:
    cfg.prompt.check_roles(list(ROLES))
    challenger = build_role(cfg.prompt, "challenger", replace(sampling, max_new_tokens=cfg.challenger.max_new_tokens),
                            tokenizer, default_user=challenger_user_template)
    reasoner = build_role(cfg.prompt, "reasoner", replace(sampling, max_new_tokens=cfg.reasoner.max_new_tokens),
                          tokenizer, default_user=checking_user_template)
    return {"challenger": challenger, "reasoner": reasoner}


@dataclass
class _Task:
    """One challenger turn and, when valid, its task, answers and outcome."""

    turn: Turn
    document: Document | None
    reuse: int  # draws of the document before this one
    format: TaskFormat
    group: str  # the challenger's GRPO group: the tasks written from one document draw
    uid: str  # the task: the reasoner's GRPO group
    challenge: Challenge | None = None
    reason: str | None = None  # why the task is invalid
    answers: list[Turn] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    pass_rate: float | None = None
    label: str | None = None  # the majority answer (majority labels)
    tied: bool = False
    train_reasoner: bool = True
    repetition: float = 0.0
    reward: float = 0.0


@register_arena("corpus")
class CorpusArena(Arena):
    config_model = CorpusArenaConfig

    def __init__(self, cfg: CorpusArenaConfig, policy, sampling: SamplingParams = SamplingParams(), tokenizer=None,
                 seed: int = 0, run_dir: Path | None = None, eval_engine=None) -> None:
        self.cfg, self.name, self.policy = cfg, cfg.name, policy
        self.roles = make_roles(cfg, sampling, tokenizer)
        self.tokenizer, self.eval_engine = tokenizer, eval_engine
        self.benchmarks = [(b, load_questions(b.kind, b.path, b.dataset, b.dataset_name, b.split, b.question_field,
                                              b.answer_field, b.options_field, b.limit)) for b in cfg.benchmarks]
        self.sampler = DocumentSampler(cfg.corpus.to_source(), seed) if cfg.challenger.grounded else None
        self.math = MathVerifier(cfg.math_timeout_s) if cfg.reasoner.labels == "gold" and "free" in cfg.challenger.formats else None
        self.samples_path = Path(run_dir) / "corpus_samples.jsonl" if run_dir is not None else None

    @classmethod
    def from_config(cls, cfg: CorpusArenaConfig, ctx: ArenaContext) -> CorpusArena:
        return cls(cfg, ctx.policy, ctx.sampling, ctx.tokenizer, seed=ctx.seed * 1009 + ctx.index, run_dir=ctx.run_dir,
                   eval_engine=ctx.engine)

    # ----- the step ----------------------------------------------------------------------------
    async def play_step(self, step: int, seeds: Sequence[int]) -> list[Episode]:
        tasks = await self._challenge(step, len(seeds))
        valid = [t for t in tasks if t.challenge is not None]
        await asyncio.gather(*(self._reason(t) for t in valid))
        await asyncio.gather(*(self._label(t) for t in valid))
        self._pay(tasks)
        self._save_samples(step, tasks)
        episodes = [self._challenger_episode(t, step, seed) for t, seed in zip(tasks, _repeat(seeds, len(tasks)))]
        episodes += [self._reasoner_episode(t, turn, ok, step) for t in valid for turn, ok in zip(t.answers, t.correct)]
        return episodes

    async def _challenge(self, step: int, documents: int) -> list[_Task]:
        cfg, role = self.cfg.challenger, self.roles["challenger"]
        drawn = self.sampler.sample(documents) if self.sampler is not None else [(None, 0)] * documents
        plan = []
        for i, (doc, reuse) in enumerate(drawn):
            fmt = cfg.formats[(step * documents + i) % len(cfg.formats)]
            group = f"{step}/{i}/{doc.id if doc is not None else 'none'}"
            plan += [(doc, reuse, fmt, group)] * cfg.per_document
        turns = await asyncio.gather(*(self.policy.act(role, 0, challenger_observation(d, f, cfg.document_chars), None)
                                       for d, _, f, _ in plan))
        tasks = []
        for k, (turn, (doc, reuse, fmt, group)) in enumerate(zip(turns, plan)):
            task = _Task(turn, doc, reuse, fmt, group, f"{group}#{k}")
            parsed = "truncated" if turn.truncated else parse_challenge(
                answer_span(turn.text, role.starts_in_reasoning), fmt, cfg.max_question_chars, cfg.max_answer_chars,
                need_answer=self.cfg.reasoner.labels == "gold")
            if isinstance(parsed, str):
                task.reason = parsed
            else:
                task.challenge = parsed
            task.turn = replace(turn, action=parsed.prompt() if task.challenge else None, invalid=task.challenge is None)
            tasks.append(task)
        return tasks

    async def _reason(self, task: _Task) -> None:
        obs = reasoner_observation(task.challenge)
        task.answers = list(await asyncio.gather(*(self.policy.act(self.roles["reasoner"], 0, obs, None)
                                                   for _ in range(self.cfg.reasoner.samples))))

    async def _label(self, task: _Task) -> None:
        """Right or wrong per answer, and the pass rate, against the gold or the majority."""
        c, answers = task.challenge, [t.action for t in task.answers]
        if self.cfg.reasoner.labels == "majority":
            keys = [answer_key(a, c.format) for a in answers]
            vote = majority_vote(keys)
            task.correct = [vote.key is not None and k == vote.key for k in keys]
            task.pass_rate, task.tied = vote.share, vote.tied
            task.label = next((a for a, k in zip(answers, keys) if vote.key is not None and k == vote.key), None)
            band = self.cfg.reasoner.band
            task.train_reasoner = vote.key is not None and (band is None or in_band(vote.share, band))
            return
        if c.format == "mcq":
            task.correct = [check(a, c.answer, "mcq") for a in answers]
        else:
            checks = await asyncio.gather(*(asyncio.to_thread(check_answer, a, c.answer, self.math) for a in answers))
            task.correct = [ok is True for ok in checks]  # None: the check timed out, counted as wrong
        task.pass_rate = sum(task.correct) / len(task.correct)

    def _pay(self, tasks: list[_Task]) -> None:
        cfg = self.cfg.challenger
        valid = [t for t in tasks if t.challenge is not None]
        if cfg.reward == "uncertainty" and valid:
            penalties = repetition_penalties([t.challenge.question for t in valid], cfg.repetition_threshold)
            for t, penalty in zip(valid, penalties):
                t.repetition = cfg.repetition_weight * penalty
        for t in tasks:
            t.reward = cfg.invalid_penalty if t.challenge is None else challenger_reward(
                cfg.reward, t.pass_rate, cfg.width, t.repetition)

    # ----- episodes -----------------------------------------------------------------------------
    def _challenger_episode(self, t: _Task, step: int, seed: int) -> Episode:
        meta = {"phase": "challenge", "step": step, "valid": t.challenge is not None, "reason": t.reason,
                "format": t.format, "pass_rate": t.pass_rate, "reward": t.reward, "repetition": t.repetition,
                "question": t.challenge.question if t.challenge else None, "document": t.document.id if t.document else None,
                "reuse": t.reuse, "tied": t.tied, "labelled": t.train_reasoner if t.challenge else None}
        return Episode(self.name, "challenge", seed, [t.turn], [t.reward], ["challenger"], meta,
                       forfeit=0 if t.challenge is None else None, group=t.group)

    def _reasoner_episode(self, t: _Task, turn: Turn, correct: bool, step: int) -> Episode:
        trained = self.cfg.reasoner.train and t.train_reasoner
        meta = {"phase": "reason", "step": step, "question": t.challenge.question, "correct": correct,
                "readable": turn.action is not None, "trained": trained}
        return Episode(self.name, "reason", 0, [turn if trained else replace(turn, trainable=False)],
                       [1.0 if correct else 0.0], ["reasoner"], meta, group=t.uid)

    def _save_samples(self, step: int, tasks: list[_Task]) -> None:
        n = self.cfg.samples_per_step
        if self.samples_path is None or n <= 0:
            return
        chosen = sorted(tasks, key=lambda t: t.challenge is None)[:n]  # valid tasks first
        lines = [json.dumps({
            "step": step, "arena": self.name, "document_id": t.document.id if t.document else None,
            "document": t.document.text[:self.cfg.challenger.document_chars] if t.document else None,
            "format": t.format, "challenger": t.turn.text, "invalid_reason": t.reason,
            "question": t.challenge.prompt() if t.challenge else None,
            "gold": t.challenge.answer if t.challenge else None, "label": t.label,
            "answers": [a.action for a in t.answers], "correct": t.correct, "pass_rate": t.pass_rate,
            "reward": t.reward}) for t in chosen]
        self.samples_path.parent.mkdir(parents=True, exist_ok=True)
        with self.samples_path.open("a") as f:
            f.write("".join(line + "\n" for line in lines))

    # ----- metrics ------------------------------------------------------------------------------
    def metrics(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """corpus/<arena>/...: valid rate and invalid reasons, pass-rate histogram, challenger
        reward distribution, question diversity, document reuse, reasoner accuracy."""
        p = f"corpus/{self.name}"
        tasks = [e.metadata for e in episodes if e.metadata.get("phase") == "challenge"]
        answers = [e.metadata for e in episodes if e.metadata.get("phase") == "reason"]
        out: dict[str, float] = {}
        if not tasks:
            return out
        valid = [m for m in tasks if m["valid"]]
        out[f"{p}/valid_rate"] = len(valid) / len(tasks)
        reasons = Counter(m["reason"] for m in tasks if not m["valid"])
        for reason in INVALID_REASONS:
            out[f"{p}/invalid/{reason}"] = reasons[reason] / len(tasks)
        rewards = [m["reward"] for m in tasks]
        out.update({f"{p}/challenger_reward_mean": statistics.fmean(rewards), f"{p}/challenger_reward_min": min(rewards),
                    f"{p}/challenger_reward_max": max(rewards),
                    f"{p}/challenger_reward_std": statistics.pstdev(rewards)})
        if valid:
            rates = [m["pass_rate"] for m in valid]
            out[f"{p}/pass_rate_mean"] = statistics.fmean(rates)
            bins = Counter(pass_bin(r) for r in rates)
            for name in PASS_BINS:
                out[f"{p}/pass_rate_hist/{name}"] = bins[name] / len(rates)
            questions = [m["question"] for m in valid]
            for n in (1, 2):
                value = distinct_n(questions, n)
                if value is not None:
                    out[f"{p}/distinct_{n}"] = value
            sb = self_bleu(questions)
            if sb is not None:
                out[f"{p}/self_bleu"] = sb
            out[f"{p}/mcq_share"] = sum(m["format"] == "mcq" for m in valid) / len(valid)
            if self.cfg.reasoner.labels == "majority":
                out[f"{p}/labelled_in_band_share"] = sum(bool(m["labelled"]) for m in valid) / len(valid)
                out[f"{p}/tie_share"] = sum(m["tied"] for m in valid) / len(valid)
        docs = [m for m in tasks if m["document"] is not None]
        if docs:
            out[f"{p}/document_reuse_mean"] = statistics.fmean(m["reuse"] for m in docs)
            out[f"{p}/documents_fresh_share"] = sum(m["reuse"] == 0 for m in docs) / len(docs)
        if self.math is not None:
            out[f"{p}/math_check_timeouts"] = float(self.math.timeouts)  # since the start of the run (process)
        if answers:
            out[f"{p}/reasoner_answer_rate"] = sum(m["readable"] for m in answers) / len(answers)
            out[f"{p}/reasoner_accuracy"] = sum(m["correct"] for m in answers) / len(answers)
        return out

    @classmethod
    def report_charts(cls, name: str, keys: list[str]) -> list[tuple[str, list[str]]]:
        def pick(part):
            return sorted(k for k in keys if k.startswith(f"corpus/{name}/{part}"))
        charts = [(f"{name}: valid tasks and invalid reasons", pick("valid_rate") + pick("invalid/")),
                  (f"{name}: reasoner pass rate (histogram shares)", pick("pass_rate")),
                  (f"{name}: challenger reward", pick("challenger_reward")),
                  (f"{name}: question diversity", pick("distinct_") + pick("self_bleu")),
                  (f"{name}: reasoner", pick("reasoner_"))]
        return [(t, ks) for t, ks in charts if ks]

    # ----- evaluation ---------------------------------------------------------------------------
    async def evaluate(self, cfg: EvalConfig) -> dict[str, float]:
        """The `benchmarks:` answered by the reasoner's prompt settings at `eval.temperature`."""
        if not self.benchmarks or self.eval_engine is None:
            return {}
        policy = EnginePolicy(self.eval_engine, trainable=False, temperature=cfg.temperature)
        reasoner, out = self.roles["reasoner"], {}
        for bench, questions in self.benchmarks:
            role = reasoning_role(bench.kind, reasoner.answer_format, self.cfg.prompt.style, self.tokenizer,
                                  max_new_tokens=reasoner.sampling.max_new_tokens, temperature=cfg.temperature)
            report = await evaluate_reasoning(policy, questions, role, samples=bench.samples,
                                              ks=sorted({1, bench.samples}), math=self.math,
                                              check_timeout_s=self.cfg.math_timeout_s, benchmark=bench.name or bench.kind)
            out.update({f"eval/{self.name}/{k}": v for k, v in report.metrics().items()})
        return out

    # ----- warm start and lifecycle -------------------------------------------------------------
    @classmethod
    def warm_start_rows(cls, cfg: CorpusArenaConfig, ctx: ArenaContext, warm_start: WarmStartConfig,
                        count: int) -> list[dict]:
        """Format only, from a scripted writer: see `format_rows`."""
        return format_rows(cfg, count, ctx.seed, ctx.sampling, ctx.tokenizer)

    def state_dict(self) -> dict | None:
        state = {"sampler": self.sampler.state_dict()} if self.sampler is not None else {}
        if self.samples_path is not None:  # an append-only log: a resume cuts it back to this size
            state["samples_bytes"] = log_sizes({"samples": self.samples_path}).get("samples", 0)
        return state or None

    def load_state_dict(self, state: dict) -> None:
        if self.sampler is not None and "sampler" in state:
            self.sampler.load_state_dict(state["sampler"])
        if self.samples_path is not None and "samples_bytes" in state:
            truncate_logs({"samples": self.samples_path}, {"samples": state["samples_bytes"]})

    async def aclose(self) -> None:
        if self.math is not None:
            self.math.close()


def _repeat(seeds: Sequence[int], n: int) -> list[int]:
    return [seeds[i % len(seeds)] for i in range(n)]


def cloze_challenge(document: Document | None, fmt: TaskFormat, rng: random.Random, window: int = 3) -> Challenge | None:
    """A scripted task from `document`: a few words of it with one blanked out, the word as the
    gold (mcq: three other words of the document as distractors); without a document, a small
    arithmetic question. Format teaching only: the warm start shows what a valid task looks like;
    it is supervised, never credited to RL."""
    if document is None:
        return _arithmetic_challenge(fmt, rng)
    text = document.text
    words = re.findall(r"[A-Za-z]+", text)
    candidates = [i for i, w in enumerate(words) if len(w) >= 5]
    rng.shuffle(candidates)
    for i in candidates:
        word = words[i]
        others = sorted({w for w in words if len(w) >= 5 and w.lower() != word.lower()})
        if fmt == "mcq" and len(others) < 3:
            continue
        snippet = " ".join([*words[max(0, i - window):i], "____", *words[i + 1:i + 1 + window]])
        if re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", snippet.lower()):
            continue
        stem = f'Which word fills the blank: "{snippet}"?'
        if fmt == "free":
            return Challenge("free", stem, word)
        options = [word, *rng.sample(others, 3)]
        rng.shuffle(options)
        return Challenge("mcq", stem, "ABCD"[options.index(word)], tuple(options))
    return None


def _arithmetic_challenge(fmt: TaskFormat, rng: random.Random) -> Challenge:
    """Without a document (R-Zero): a small arithmetic question, mcq with typical slips as distractors."""
    a, op, b = rng.randrange(21), rng.choice("+-"), rng.randrange(21)
    gold = OPS[op](a, b)
    if fmt == "free":
        return Challenge("free", arithmetic_question(a, op, b), str(gold))
    options = [str(gold), *(str(w) for w in rng.sample(all_corruptions(a, op, b), 3))]
    rng.shuffle(options)
    return Challenge("mcq", arithmetic_question(a, op, b), "ABCD"[options.index(str(gold))], tuple(options))


def format_rows(cfg: CorpusArenaConfig, count: int, seed: int, sampling: SamplingParams = SamplingParams(),
                tokenizer=None) -> list[dict]:
    """About `count` SFT rows, challenger and reasoner in turn: the challenger writes a scripted
    cloze task of the document in the asked form; the reasoner answers in its format with another
    task's answer (drawn independently of the truth, so nothing about which answer is right is
    taught)."""
    from sparring.environments.challenges.tasks import write_challenge

    rng = random.Random(seed * 7919 + 17)
    roles = make_roles(cfg, sampling, tokenizer)
    sampler = DocumentSampler(cfg.corpus.to_source(), seed + 1) if cfg.challenger.grounded else None
    rows: list[dict] = []
    attempts = 0
    while len(rows) < count and attempts < 4 * count + 8:
        attempts += 1
        doc = sampler.sample(1)[0][0] if sampler is not None else None
        fmt = cfg.challenger.formats[attempts % len(cfg.challenger.formats)]
        task, other = cloze_challenge(doc, fmt, rng), cloze_challenge(doc, fmt, rng)
        if task is None or other is None:
            continue
        challenger, reasoner = roles["challenger"], roles["reasoner"]
        obs = challenger_observation(doc if cfg.challenger.grounded else None, fmt, cfg.challenger.document_chars)
        written = write_challenge(task)
        if challenger.answer_format == "answer_tag":
            written = f"<answer>{written}</answer>"
        if challenger.answer_format == "think" or challenger.starts_in_reasoning:
            written = ("\n</think>\n\n" if challenger.starts_in_reasoning else "<think>\n\n</think>\n\n") + written
        rows.append(challenger.sft_row(obs, written))
        if len(rows) < count:
            rows.append(reasoner.sft_row(reasoner_observation(task), reasoner.format_action(other.answer)))
    return rows


__all__ = ["CorpusArena", "challenger_observation", "cloze_challenge", "format_rows", "reasoner_observation"]
