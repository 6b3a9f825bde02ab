"""Checking stages a task arena switches on by config: a verifier (RISE) and a judge (pointwise,
pairwise, rubric, with an optional meta-judge). Each stage takes candidate answers whose ground
truth the arena knows (or None where it has none), asks the shared model, and returns one
single-player Episode per judgement, with the verification or judging role and its reward from
environments/verification/rewards.py. A judgement whose truth is unknown is recorded but never
trained: the model is only paid for agreeing with a truth it cannot produce itself.

Not here: where candidates come from (the arena: own answers, another sample's, references, the
Absolute Zero solver's) or how truth is established (checking.py, the sandbox).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sparring.agents.answer_formats import default_user_template
from sparring.agents.roles import Role
from sparring.arenas.tasks_config import JudgeConfig, VerificationConfig
from sparring.environments.verification import rewards
from sparring.environments.verification.stats import correlation, verdict_stats
from sparring.environments.verification.verdicts import (Verdict, parse_grades, parse_preference, parse_rubric,
                                                         parse_score, parse_verdict)
from sparring.types import Episode, Turn

# yes / no rather than correct / incorrect: two short words with no shared prefix, so a misspelt
# verdict (invalid, penalised) does not push down the first tokens of one verdict only
VERIFY_ASK = "Is the proposed answer correct? Answer yes or no."
VERIFY_ASK_CONFIDENCE = ("Is the proposed answer correct? Answer yes or no, then a comma and how sure you are from 0 "
                         "to 1 (for example: yes, 0.8).")


def checking_user_template(fmt: str) -> str:
    """The default user template of the task roles: brackets hold an answer, not a game action."""
    return "{observation}\nWrite your answer in brackets." if fmt == "bracket" else default_user_template(fmt)


def verify_observation(problem: str, answer: str, confidence: bool = False) -> str:
    return f"Problem: {problem}\nProposed answer: {answer}\n{VERIFY_ASK_CONFIDENCE if confidence else VERIFY_ASK}"


@dataclass
class Candidate:
    """One answer to check: the problem as the checker sees it, the answer as shown, its truth."""

    problem: str
    answer: str
    truth: bool | None  # None: no ground truth (recorded, not trained)
    seed: int


def invalid(turn: Turn) -> Turn:
    """`turn` marked unreadable (the stage's own parse failed)."""
    return replace(turn, invalid=True, action=None)


class VerificationStage:
    """Verifier turns on candidates; reward = class-weighted agreement with the truth."""

    def __init__(self, cfg: VerificationConfig, policy, role: Role, arena: str) -> None:
        self.cfg, self.policy, self.role, self.arena = cfg, policy, role, arena

    def observation(self, c: Candidate) -> str:
        return verify_observation(c.problem, c.answer, self.cfg.scoring == "brier")

    async def ask(self, cands: Sequence[Candidate], player: int = 0) -> list[tuple[Turn, Verdict | None]]:
        turns = await asyncio.gather(*(self.policy.act(self.role, player, self.observation(c), None) for c in cands))
        return [self.read(t) for t in turns]

    def read(self, turn: Turn) -> tuple[Turn, Verdict | None]:
        verdict = None if turn.invalid else parse_verdict(turn.action)
        return (turn if verdict is not None else invalid(turn)), verdict

    def reward(self, verdict: Verdict | None, truth: bool, weights: dict[bool, float]) -> float:
        return rewards.agreement_reward(verdict, truth, weights[truth], self.cfg.invalid_penalty, self.cfg.scoring)

    def weights(self, truths: Sequence[bool | None]) -> dict[bool, float]:
        return rewards.class_weights([t for t in truths if t is not None], self.cfg.class_weights)

    async def run(self, cands: Sequence[Candidate], step: int = 0) -> list[Episode]:
        """`samples` verdicts per candidate, each an Episode grouped by candidate."""
        k = self.cfg.samples
        asked = await self.ask([c for c in cands for _ in range(k)])
        weights = self.weights([c.truth for c in cands])
        out = []
        for i, (turn, verdict) in enumerate(asked):
            c = cands[i // k]
            known = c.truth is not None
            reward = self.reward(verdict, c.truth, weights) if known else 0.0
            meta = {"phase": "verify", "step": step, "truth": c.truth,
                    "says": None if verdict is None else verdict.correct}
            out.append(Episode(self.arena, "verify", c.seed, [turn if known else replace(turn, trainable=False)],
                               [reward], [self.role.name], meta, forfeit=0 if turn.invalid else None,
                               group=(step, i // k)))
        return out


def verdict_pairs(episodes: Sequence[Episode]) -> list[tuple[bool, bool | None]]:
    """(truth, says) of every verification episode whose truth is known (`VerificationStage.run`'s)."""
    return [(e.metadata["truth"], e.metadata["says"]) for e in episodes
            if e.metadata.get("phase") == "verify" and e.metadata["truth"] is not None]


def verification_metrics(pairs: Sequence[tuple[bool, bool | None]], prefix: str) -> dict[str, float]:
    """verdict_stats of (truth, says) pairs under `prefix` (e.g. "verify/<arena>")."""
    if not pairs:
        return {}
    stats = verdict_stats([t for t, _ in pairs], [s for _, s in pairs])
    return {f"{prefix}/{k}": v for k, v in stats.items()}


# ----- judging ----------------------------------------------------------------------------------
JUDGE_SCORE_ASK = "Rate how correct the answer is, from 1 (wrong) to 10 (right). Answer with one number."
JUDGE_PAIR_ASK = "Which answer is better? Answer A or B."
RUBRIC_WRITE_ASK = ("Write a rubric for grading answers to this problem: 2 to {n} numbered criteria (1. ..., 2. ...) "
                    "that a right answer meets.")
RUBRIC_GRADE_ASK = "For each criterion, in order, say whether the answer meets it: yes or no, separated by commas."
META_ASK = "Two judges rated this answer. Which judgement is more accurate? Answer A or B."


def score_observation(problem: str, answer: str) -> str:
    return f"Problem: {problem}\nAnswer: {answer}\n{JUDGE_SCORE_ASK}"


def pair_observation(problem: str, a: str, b: str) -> str:
    return f"Problem: {problem}\nAnswer A: {a}\nAnswer B: {b}\n{JUDGE_PAIR_ASK}"


def rubric_observation(problem: str, items: int) -> str:
    return f"Problem: {problem}\n" + RUBRIC_WRITE_ASK.format(n=items)


def grade_observation(problem: str, rubric: list[str], answer: str) -> str:
    listing = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(rubric))
    return f"Problem: {problem}\nRubric:\n{listing}\nAnswer: {answer}\n{RUBRIC_GRADE_ASK}"


def judge_format_example(cfg: JudgeConfig, problem: str, answer: str, rng) -> tuple[str, str]:
    """A judge prompt of `cfg.mode` and an answer in the right form drawn independently of the
    truth (a random score, letter or marks): a format-only warm-start row."""
    if cfg.mode == "pairwise":
        return pair_observation(problem, answer, answer), rng.choice("AB")
    if cfg.mode == "rubric":
        rubric = ["The answer is a single value.", "The answer follows from the problem."]
        return grade_observation(problem, rubric, answer), ", ".join(rng.choice(["yes", "no"]) for _ in rubric)
    return score_observation(problem, answer), str(rng.randint(1, 10))


@dataclass
class JudgeItem:
    """Answers to one problem to be judged: one (pointwise, rubric) or two (pairwise)."""

    problem: str
    answers: list[str]
    truths: list[bool | None]
    seed: int

    @property
    def known(self) -> bool:
        return all(t is not None for t in self.truths)


class JudgeStage:
    """Judge turns on items; returns episodes and, per item, each answer's unit score (None where
    the judgement was unreadable): the reward of a solver whose problem has no gold answer."""

    def __init__(self, cfg: JudgeConfig, policy, judge: Role, meta_judge: Role | None, arena: str) -> None:
        self.cfg, self.policy, self.judge, self.meta_judge, self.arena = cfg, policy, judge, meta_judge, arena
        self.rubric_writer = replace(judge, sampling=replace(judge.sampling, max_new_tokens=4 * judge.sampling.max_new_tokens))

    async def run(self, items: Sequence[JudgeItem], step: int = 0) -> tuple[list[Episode], list[list[float | None]]]:
        run = {"pointwise": self._pointwise, "pairwise": self._pairwise, "rubric": self._rubric}[self.cfg.mode]
        results = await asyncio.gather(*(run(item, step) for item in items))
        return [e for eps, _ in results for e in eps], [units for _, units in results]

    async def _ask(self, role: Role, observation: str) -> Turn:
        return await self.policy.act(role, 0, observation, None)

    def _episode(self, item: JudgeItem, turns: list[Turn], reward: float | None, role: Role, meta: dict) -> Episode:
        trained = reward is not None
        turns = turns if trained else [replace(t, trainable=False) for t in turns]
        meta = {"phase": role.name, "mode": self.cfg.mode, "verifiable": item.known, **meta}
        return Episode(self.arena, "judge", item.seed, turns, [reward if trained else 0.0], [role.name], meta,
                       forfeit=0 if turns[-1].invalid else None)

    def _score(self, turn: Turn) -> tuple[Turn, float | None]:
        score = None if turn.invalid else parse_score(turn.action)
        return (turn, rewards.unit_score(score)) if score is not None else (invalid(turn), None)

    async def _pointwise(self, item: JudgeItem, step: int) -> tuple[list[Episode], list[float | None]]:
        (answer,), (truth,) = item.answers, item.truths
        obs = score_observation(item.problem, answer)
        times = 2 if self.cfg.meta else 1
        judged = [self._score(t) for t in await asyncio.gather(*(self._ask(self.judge, obs) for _ in range(times)))]
        episodes = [self._judge_episode(item, turn, unit, truth, len(answer), step) for turn, unit in judged]
        unit = judged[0][1]
        if self.cfg.meta:
            meta_ep, unit = await self._meta(item, answer, truth, judged, step)
            if meta_ep is not None:
                episodes.append(meta_ep)
        return episodes, [unit]

    def _judge_episode(self, item: JudgeItem, turn: Turn, unit: float | None, truth: bool | None, chars: int,
                       step: int, turns: list[Turn] | None = None) -> Episode:
        reward = None if truth is None else rewards.pointwise_reward(unit, truth, self.cfg.invalid_penalty)
        return self._episode(item, turns or [turn], reward, self.judge,
                             {"step": step, "unit": unit, "truth": truth, "answer_chars": chars})

    async def _meta(self, item: JudgeItem, answer: str, truth: bool | None, judged, step: int):
        """The meta-judge picks the more accurate of two readable judgements; its pick's score is used."""
        (_, a), (_, b) = judged
        if a is None or b is None:
            return None, a if a is not None else b
        obs = (f"Problem: {item.problem}\nAnswer: {answer}\nJudgement A: {round(a * 9 + 1)}/10\n"
               f"Judgement B: {round(b * 9 + 1)}/10\n{META_ASK}")
        turn = await self._ask(self.meta_judge, obs)
        choice = None if turn.invalid else parse_preference(turn.action)
        turn = turn if choice is not None else invalid(turn)
        reward = None if truth is None else rewards.meta_judge_reward(choice, a, b, truth, self.cfg.invalid_penalty)
        right = None if reward is None or choice is None else reward == 1.0
        ep = self._episode(item, [turn], reward, self.meta_judge, {"step": step, "meta_right": right})
        return ep, b if choice == "B" else a

    async def _pairwise(self, item: JudgeItem, step: int) -> tuple[list[Episode], list[float | None]]:
        a, b = item.answers
        turn = await self._ask(self.judge, pair_observation(item.problem, a, b))
        pref = None if turn.invalid else parse_preference(turn.action)
        turn = turn if pref is not None else invalid(turn)
        reward = None
        if item.known:
            reward = rewards.pairwise_reward(pref, item.truths[0], item.truths[1], self.cfg.invalid_penalty)
        units = [None, None] if pref is None else [float(pref == "A"), float(pref == "B")]
        right = None if reward is None or pref is None else reward == 1.0
        ep = self._episode(item, [turn], reward, self.judge, {"step": step, "pair_right": right, "units": units,
                                                               "truths": item.truths})
        return [ep], units

    async def _rubric(self, item: JudgeItem, step: int) -> tuple[list[Episode], list[float | None]]:
        (answer,), (truth,) = item.answers, item.truths
        first = await self._ask(self.rubric_writer, rubric_observation(item.problem, self.cfg.rubric_items))
        rubric = None if first.truncated else parse_rubric(first.action, self.cfg.rubric_items)
        if rubric is None:
            first = invalid(first)
            return [self._judge_episode(item, first, None, truth, len(answer), step)], [None]
        second = await self._ask(self.judge, grade_observation(item.problem, rubric, answer))
        grades = None if second.invalid else parse_grades(second.action, len(rubric))
        second = second if grades is not None else invalid(second)
        unit = rewards.rubric_unit(grades)
        return [self._judge_episode(item, second, unit, truth, len(answer), step, turns=[first, second])], [unit]


def judge_metrics(episodes: Sequence[Episode], prefix: str) -> dict[str, float]:
    """Judge vs ground truth, score drift and length bias, and the meta-judge's accuracy."""
    judged = [e.metadata for e in episodes if e.metadata.get("phase") == "judge"]
    out: dict[str, float] = {}
    if not judged:
        return out
    out[f"{prefix}/judgements"] = float(len(judged))
    out[f"{prefix}/invalid_rate"] = sum(e.turns[-1].invalid for e in episodes if e.metadata.get("phase") == "judge") / len(judged)
    units = [m["unit"] for m in judged if m.get("unit") is not None]
    if units:
        out[f"{prefix}/score_mean"] = sum(units) / len(units)
        for part, verifiable in (("verifiable", True), ("unverifiable", False)):
            mine = [m["unit"] for m in judged if m.get("unit") is not None and m["verifiable"] == verifiable]
            if mine:
                out[f"{prefix}/score_mean_{part}"] = sum(mine) / len(mine)
        hist = Counter(round(u * 9) + 1 for u in units)
        for s in range(1, 11):
            out[f"{prefix}/score_hist/{s}"] = hist[s] / len(units)
        pairs = [(m["answer_chars"], m["unit"]) for m in judged if m.get("unit") is not None and "answer_chars" in m]
        corr = correlation([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
        if corr is not None:
            out[f"{prefix}/length_score_corr"] = corr
    scored = [m for m in judged if m.get("truth") is not None and m.get("unit") is not None]
    if scored:
        out[f"{prefix}/agreement"] = sum(1 - abs(m["unit"] - m["truth"]) for m in scored) / len(scored)
        out[f"{prefix}/accuracy"] = sum((m["unit"] >= 0.5) == m["truth"] for m in scored) / len(scored)
    pairs_right = [m["pair_right"] for m in judged if m.get("pair_right") is not None]
    if pairs_right:
        out[f"{prefix}/pair_accuracy"] = sum(pairs_right) / len(pairs_right)
    meta = [e.metadata["meta_right"] for e in episodes if e.metadata.get("phase") == "meta_judge"
            and e.metadata.get("meta_right") is not None]
    if meta:
        out[f"{prefix}/meta_accuracy"] = sum(meta) / len(meta)
    return out
