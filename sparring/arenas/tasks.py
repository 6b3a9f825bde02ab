"""The task arena (`kind: tasks`): problems with answers, solved by the shared model, with the
checking roles switched on by config.

Each step (`play_step`):
  1. problems: `episodes_per_step` from the source (generated, a file, a dataset), or written by
     the proposer role (`propose:`, no gold answer), plus the judge's calibration problems;
  2. solve: `samples` solver answers per problem (one GRPO group per problem) -- or, with
     `self_correction:` (SPOC), one solve -> verify -> revise trajectory per sample;
  3. check: each answer against the gold (checking.py: exact, numeric, mcq, math-verify);
  4. verify (`verify:`, RISE): a verifier turn per candidate (own answer, another sample's, or
     the problem's reference candidates), paid for agreeing with the check;
  5. judge (`judge:`): scores answers; where a problem has no gold answer its score is the
     solver's reward, and the judge is trained only on problems with one;
  6. the proposer's reward: how hard the judged answers found its question (1 - mean score).
Roles: `solver`, `verifier`, `judge`, `meta_judge`, `proposer`, each with its own baseline
(arena, role). A malformed answer, verdict, score or question is a counted outcome with the
configured penalty, never a crash.

Not here: verdict parsing and the rewards (environments/verification), the stages that ask the
verifier and judge (verification.py), problem sources and checks (environments/problems).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sparring.agents.policies import EnginePolicy
from sparring.agents.prompting import build_role
from sparring.agents.roles import Role
from sparring.arenas.base import Arena, ArenaContext, register_arena
from sparring.arenas.tasks_config import TaskArenaConfig, TaskSourceConfig, VerificationConfig
from sparring.arenas.verification import (Candidate, JudgeItem, JudgeStage, VerificationStage, checking_user_template,
                                          judge_metrics, verdict_pairs, verification_metrics)
from sparring.config import EvalConfig, WarmStartConfig
from sparring.environments.problems import Problem
from sparring.environments.problems.arithmetic import Arithmetic
from sparring.environments.problems.checking import MathVerifier, check
from sparring.environments.problems.sources import load_problems
from sparring.environments.verification import Verdict
from sparring.types import Episode, SamplingParams, Turn

ROLES = ("solver", "verifier", "judge", "meta_judge", "proposer")
REVISE_ASK = "Your previous answer was {answer}. A check found it incorrect. Give a corrected answer."
PROPOSE_ASK = "Write one new problem of the same kind as these examples. Answer with the problem only."


def propose_observation(examples: list[str]) -> str:
    return "Examples:\n" + "\n".join(f"- {q}" for q in examples) + f"\n{PROPOSE_ASK}"


class ProblemPool:
    """Problems of one source: generated on demand, or read once and sampled uniformly."""

    def __init__(self, cfg: TaskSourceConfig) -> None:
        self.generator = None
        self.items: list[Problem] = []
        if cfg.generator == "arithmetic":
            self.generator = Arithmetic(cfg.ops, cfg.max_operand, cfg.split, cfg.heldout_fraction, cfg.correct_share)
        else:
            self.items = load_problems(cfg.path, cfg.dataset, cfg.name, cfg.data_split, cfg.question_field,
                                       cfg.answer_field, cfg.candidates_field, cfg.limit)

    def sample(self, rng: random.Random) -> Problem:
        return self.generator.sample(rng) if self.generator is not None else rng.choice(self.items)


def make_roles(cfg: TaskArenaConfig, sampling: SamplingParams, tokenizer=None) -> dict[str, Role]:
    """The arena's roles from its `prompt:` config, each with its own completion cap."""
    cfg.prompt.check_roles(list(ROLES))
    checker = cfg.verify or cfg.self_correction
    caps = {"solver": cfg.solver_max_new_tokens,
            "verifier": checker.max_new_tokens if checker else 16,
            "judge": cfg.judge.max_new_tokens if cfg.judge else 16,
            "meta_judge": cfg.judge.max_new_tokens if cfg.judge else 16,
            "proposer": cfg.propose.max_new_tokens if cfg.propose else 48}
    return {name: build_role(cfg.prompt, name, replace(sampling, max_new_tokens=caps[name]), tokenizer,
                             default_user=checking_user_template) for name in ROLES}


@dataclass
class _Answer:
    """One solver sample (a plain answer, or a SPOC trajectory's final answer)."""

    problem: Problem
    seed: int
    calibration: bool = False  # a judge calibration problem: the solver turn is not trained
    turns: list[Turn] = field(default_factory=list)  # solver turns (SPOC: with the verifier's in between)
    answer: str | None = None  # the extracted final answer
    truth: bool | None = None  # None: no gold answer
    unit: float | None = None  # the judge's score where there is no gold answer
    proposal: int | None = None  # index of the proposer turn that wrote the problem
    checks: list[tuple[bool, Verdict | None]] = field(default_factory=list)  # SPOC: (truth, verdict) per verification


@register_arena("tasks")
class TaskArena(Arena):
    config_model = TaskArenaConfig

    def __init__(self, cfg: TaskArenaConfig, policy, sampling: SamplingParams = SamplingParams(), tokenizer=None,
                 eval_engine=None) -> None:
        self.cfg, self.name, self.policy = cfg, cfg.name, policy
        self.roles = make_roles(cfg, sampling, tokenizer)
        self.pool = ProblemPool(cfg.source)
        self.eval_pool = ProblemPool(cfg.eval_source) if cfg.eval_source else None
        self.calibration = ProblemPool(cfg.judge.calibration) if cfg.judge and cfg.judge.calibration else None
        self.eval_engine = eval_engine
        self.math = MathVerifier() if cfg.check == "math" else None
        self.verify = VerificationStage(cfg.verify, policy, self.roles["verifier"], self.name) if cfg.verify else None
        sc = cfg.self_correction
        self.spoc = None if sc is None else VerificationStage(
            VerificationConfig(show="answer", class_weights=sc.class_weights, invalid_penalty=sc.invalid_penalty,
                               max_new_tokens=sc.max_new_tokens), policy, self.roles["verifier"], self.name)
        self.judge = None if cfg.judge is None else JudgeStage(cfg.judge, policy, self.roles["judge"],
                                                               self.roles["meta_judge"], self.name)

    @classmethod
    def from_config(cls, cfg: TaskArenaConfig, ctx: ArenaContext) -> TaskArena:
        return cls(cfg, ctx.policy, ctx.sampling, ctx.tokenizer, eval_engine=ctx.engine)

    # ----- the step ----------------------------------------------------------------------------
    async def play_step(self, step: int, seeds: Sequence[int]) -> list[Episode]:
        if not seeds:
            return []
        rng = random.Random(f"{self.name}/{step}/{seeds[0]}")
        episodes: list[Episode] = []
        proposals: list[tuple[Turn, str | None]] = []
        if self.cfg.propose is not None:
            proposals = await self._propose(rng, len(seeds))
            problems = [(Problem(f"proposed/{step}/{i}", q, None), i) for i, (_, q) in enumerate(proposals) if q]
        else:
            problems = [(self.pool.sample(rng), None) for _ in seeds]
        answers = [_Answer(p, seeds[i % len(seeds)], proposal=origin) for i, (p, origin) in enumerate(problems)
                   for _ in range(self.cfg.samples)]
        if self.calibration is not None:
            calib = [self.calibration.sample(rng) for _ in range(self.cfg.judge.calibration_per_step)]
            answers += [_Answer(p, seeds[i % len(seeds)], calibration=True) for i, p in enumerate(calib)
                        for _ in range(self.cfg.samples)]
        if self.spoc is not None:
            await asyncio.gather(*(self._self_correct(a) for a in answers))
        else:
            turns = await asyncio.gather(*(self.policy.act(self.roles["solver"], 0, a.problem.question, None)
                                           for a in answers))
            for a, turn in zip(answers, turns):
                a.turns, a.answer = [turn], turn.action
                a.truth = await self._check(a.answer, a.problem)
        if self.verify is not None:
            episodes += await self.verify.run(self._candidates(answers), step)
        if self.judge is not None:
            episodes += await self._judge(answers, step)
        weights = self.spoc.weights([t for a in answers for t, _ in a.checks]) if self.spoc is not None else None
        episodes += [self._solver_episode(a, step, weights) for a in answers]
        episodes += [self._proposer_episode(turn, q, [a for a in answers if a.proposal == i], step)
                     for i, (turn, q) in enumerate(proposals)]
        return episodes

    async def _check(self, answer: str | None, problem: Problem) -> bool | None:
        if problem.answer is None:
            return None
        if self.math is not None:
            return await asyncio.to_thread(check, answer, problem.answer, "math", self.math)
        return check(answer, problem.answer, self.cfg.check)

    async def _propose(self, rng: random.Random, count: int) -> list[tuple[Turn, str | None]]:
        cfg = self.cfg.propose
        observations = []
        for _ in range(count):
            observations.append(propose_observation([self.pool.sample(rng).question for _ in range(cfg.examples)]))
        turns = await asyncio.gather(*(self.policy.act(self.roles["proposer"], 0, o, None) for o in observations))
        out = []
        for turn in turns:
            q = None if turn.invalid else turn.action.strip()
            ok = q is not None and 0 < len(q) <= cfg.max_chars
            out.append((turn, q) if ok else (replace(turn, invalid=True, action=None), None))
        return out

    async def _self_correct(self, a: _Answer) -> None:
        """SPOC: solve, then up to `rounds` of verify (player 1) -> revise (player 0) until the
        verifier says correct; per-turn verification rewards are set in `_solver_episode`."""
        solver, q = self.roles["solver"], a.problem.question
        turn = await self.policy.act(solver, 0, q, None)
        a.turns, a.answer = [turn], turn.action
        a.truth = await self._check(a.answer, a.problem)
        for _ in range(self.cfg.self_correction.rounds):
            if a.answer is None:
                return  # nothing to verify: the malformed answer is final
            ((check_turn, verdict),) = await self.spoc.ask([Candidate(q, a.answer, a.truth, a.seed)], player=1)
            a.turns.append(check_turn)
            a.checks.append((a.truth, verdict))
            if verdict is None or verdict.correct:
                return
            turn = await self.policy.act(solver, 0, f"{q}\n{REVISE_ASK.format(answer=a.answer)}", None)
            a.turns.append(turn)
            a.answer = turn.action
            a.truth = await self._check(a.answer, a.problem)

    def _candidates(self, answers: list[_Answer]) -> list[Candidate]:
        """What the verifier checks, by `verify.candidates`; malformed answers are not checked."""
        cfg, out = self.cfg.verify, []
        if cfg.candidates == "reference":
            seen = set()
            for a in answers:
                if id(a.problem) in seen or a.calibration:  # each draw once (a problem may be drawn twice)
                    continue
                seen.add(id(a.problem))
                for cand in a.problem.candidates:
                    truth = check(cand, a.problem.answer, self.cfg.check) if a.problem.answer is not None else None
                    out.append(Candidate(a.problem.question, cand, truth, a.seed))
            return out
        by_problem: dict[int, list[_Answer]] = {}
        for a in answers:
            by_problem.setdefault(id(a.problem), []).append(a)
        for group in by_problem.values():
            for i, a in enumerate(group):
                source = a if cfg.candidates == "self" else group[(i + 1) % len(group)]
                if source.answer is None or source.calibration:
                    continue
                shown = source.answer if cfg.show == "answer" else source.turns[-1].text
                out.append(Candidate(a.problem.question, shown, source.truth, a.seed))
        return out

    async def _judge(self, answers: list[_Answer], step: int) -> list[Episode]:
        items, owners = [], []
        readable = [a for a in answers if a.answer is not None]
        if self.cfg.judge.mode == "pairwise":
            by_problem: dict[int, list[_Answer]] = {}
            for a in readable:
                by_problem.setdefault(id(a.problem), []).append(a)
            for group in by_problem.values():
                for first, second in zip(group[0::2], group[1::2]):
                    items.append(JudgeItem(first.problem.question, [first.answer, second.answer],
                                           [first.truth, second.truth], first.seed))
                    owners.append([first, second])
        else:
            items = [JudgeItem(a.problem.question, [a.answer], [a.truth], a.seed) for a in readable]
            owners = [[a] for a in readable]
        episodes, units = await self.judge.run(items, step)
        for group, scores in zip(owners, units):
            for a, unit in zip(group, scores):
                a.unit = unit
        return episodes

    # ----- rewards and episodes -----------------------------------------------------------------
    def _solver_reward(self, a: _Answer) -> float | None:
        if a.answer is None:
            return self.cfg.invalid_penalty
        if a.problem.answer is not None:
            return float(a.truth)
        return a.unit  # no gold: the judge's score (None: unreadable judgement, no reward)

    def _solver_episode(self, a: _Answer, step: int, weights: dict[bool, float] | None = None) -> Episode:
        reward = self._solver_reward(a)
        trained = self.cfg.train_solver and not a.calibration and reward is not None
        turns = [t if trained or t.player == 1 else replace(t, trainable=False) for t in a.turns]
        meta = {"phase": "solve", "step": step, "truth": a.truth, "well_formed": a.answer is not None,
                "calibration": a.calibration, "unit": a.unit,
                "history": [(t, None if v is None else v.correct) for t, v in a.checks]}
        if self.spoc is not None:
            meta["first_truth"] = a.checks[0][0] if a.checks else a.truth
            turns = self._verification_rewards(turns, a, weights)
        roles = ["solver", "verifier"] if self.spoc is not None else ["solver"]
        return Episode(self.name, "solve", a.seed, turns, [reward or 0.0] + [0.0] * (len(roles) - 1),
                       roles, meta, forfeit=0 if a.answer is None else None, group=a.problem.id)

    def _verification_rewards(self, turns: list[Turn], a: _Answer, weights: dict[bool, float]) -> list[Turn]:
        """Each SPOC verification's agreement reward, on its own turn (a per-turn reward)."""
        checks = iter(a.checks)
        out = []
        for t in turns:
            if t.player == 1:
                truth, verdict = next(checks)
                t = replace(t, reward=self.spoc.reward(verdict, truth, weights))
            out.append(t)
        return out

    def _proposer_episode(self, turn: Turn, question: str | None, answers: list[_Answer], step: int) -> Episode:
        units = [a.unit for a in answers if a.unit is not None]
        if question is None:
            reward, trained = self.cfg.propose.invalid_penalty, True
        else:
            reward, trained = (1.0 - sum(units) / len(units), True) if units else (0.0, False)
        meta = {"phase": "propose", "step": step, "valid": question is not None,
                "difficulty": reward if question is not None and units else None}
        return Episode(self.name, "propose", 0, [turn if trained else replace(turn, trainable=False)], [reward],
                       ["proposer"], meta, forfeit=0 if question is None else None)

    # ----- metrics ------------------------------------------------------------------------------
    def metrics(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """tasks/<arena>/... solve and format rates (SPOC: first vs final answer), verify/<arena>/...
        verdict stats, judge/<arena>/... agreement, drift and length bias, proposal rates."""
        p = f"tasks/{self.name}"
        solves = [e for e in episodes if e.metadata.get("phase") == "solve" and not e.metadata["calibration"]]
        out: dict[str, float] = {}
        if solves:
            graded = [e.metadata["truth"] for e in solves if e.metadata["truth"] is not None]
            out[f"{p}/format_rate"] = sum(e.metadata["well_formed"] for e in solves) / len(solves)
            if graded:
                out[f"{p}/solve_rate"] = sum(graded) / len(graded)
        if self.spoc is not None and solves:
            firsts = [e.metadata["first_truth"] for e in solves if e.metadata["first_truth"] is not None]
            if firsts:
                out[f"{p}/first_answer_solve_rate"] = sum(firsts) / len(firsts)
            out[f"{p}/verify_rounds_mean"] = sum(len(e.metadata["history"]) for e in solves) / len(solves)
        pairs = verdict_pairs(episodes) + [h for e in solves for h in e.metadata["history"] if h[0] is not None]
        out.update(verification_metrics(pairs, f"verify/{self.name}"))
        out.update(judge_metrics(episodes, f"judge/{self.name}"))
        props = [e.metadata for e in episodes if e.metadata.get("phase") == "propose"]
        if props:
            out[f"{p}/proposal_valid_rate"] = sum(m["valid"] for m in props) / len(props)
            hard = [m["difficulty"] for m in props if m["difficulty"] is not None]
            if hard:
                out[f"{p}/proposal_difficulty"] = sum(hard) / len(hard)
        return out

    @classmethod
    def report_charts(cls, name: str, keys: list[str]) -> list[tuple[str, list[str]]]:
        def pick(prefix, ends):
            return sorted(k for k in keys if k.startswith(prefix) and k.endswith(ends))
        charts = [(f"{name}: solve and format rates", pick(f"tasks/{name}/", ("rate",))),
                  (f"{name}: verifier vs ground truth", pick(f"verify/{name}/", ("accuracy", "precision", "recall",
                                                                                 "says_correct_share"))),
                  (f"{name}: judge vs ground truth, score drift", pick(f"judge/{name}/", ("agreement", "accuracy",
                                                                                          "score_mean_verifiable",
                                                                                          "score_mean_unverifiable",
                                                                                          "length_score_corr")))]
        return [(t, ks) for t, ks in charts if ks]

    # ----- evaluation ---------------------------------------------------------------------------
    async def evaluate(self, cfg: EvalConfig) -> dict[str, float]:
        """On `eval_source` (cfg.episodes problems, eval.temperature): solver accuracy, and the
        verifier's verdicts on the problems' reference candidates (else on the solver's answers)."""
        if self.eval_pool is None or self.eval_engine is None:
            return {}
        policy = EnginePolicy(self.eval_engine, trainable=False, temperature=cfg.temperature)
        rng = random.Random(f"{self.name}/eval")
        problems = [self.eval_pool.sample(rng) for _ in range(cfg.episodes)]
        out = {}
        turns = await asyncio.gather(*(policy.act(self.roles["solver"], 0, p.question, None) for p in problems))
        truths = [await self._check(t.action, p) for t, p in zip(turns, problems)]
        graded = [t for t in truths if t is not None]
        if graded:
            out[f"eval/{self.name}/solve_rate"] = sum(graded) / len(graded)
        if self.verify is not None or self.spoc is not None:
            stage = self.verify or self.spoc
            cands = [Candidate(p.question, c, check(c, p.answer, self.cfg.check), 0) for p in problems
                     if p.answer is not None for c in p.candidates]
            if not cands:
                cands = [Candidate(p.question, t.action, truth, 0) for p, t, truth in zip(problems, turns, truths)
                         if t.action is not None and truth is not None]
            asked = await VerificationStage(stage.cfg, policy, stage.role, self.name).ask(cands)
            pairs = [(c.truth, None if v is None else v.correct) for c, (_, v) in zip(cands, asked)]
            out.update(verification_metrics(pairs, f"eval/{self.name}/verify"))
        return out

    # ----- warm start and lifecycle -------------------------------------------------------------
    @classmethod
    def warm_start_rows(cls, cfg: TaskArenaConfig, ctx: ArenaContext, warm_start: WarmStartConfig,
                        count: int) -> list[dict]:
        """Format only: each enabled role's answer written in its format, with targets drawn
        independently of the truth (another problem's answer, a random verdict or score), so the
        warm start teaches how to answer and nothing about which answer is right."""
        return format_rows(cfg, count, ctx.seed, ctx.sampling, ctx.tokenizer)

    async def aclose(self) -> None:
        if self.math is not None:
            self.math.close()


def format_rows(cfg: TaskArenaConfig, count: int, seed: int, sampling: SamplingParams = SamplingParams(),
                tokenizer=None) -> list[dict]:
    """About `count` SFT rows over the arena's enabled roles (a verifier prompt appears once with
    each verdict, so the warm start leaves it at even odds); see `TaskArena.warm_start_rows`."""
    from sparring.arenas.verification import judge_format_example, verify_observation

    rng = random.Random(seed * 7919 + 11)
    roles = make_roles(cfg, sampling, tokenizer)
    pool = ProblemPool(cfg.source)
    enabled = ["solver"] + (["verifier"] if cfg.verify or cfg.self_correction else [])
    enabled += (["judge"] if cfg.judge else []) + (["proposer"] if cfg.propose else [])
    rows = []
    for i in range(count):
        name = enabled[i % len(enabled)]
        p, other = pool.sample(rng), pool.sample(rng)
        role = roles[name]
        if name == "solver":
            obs, target = p.question, other.answer or "?"
        elif name == "verifier":  # both verdicts for the same prompt: p = 1/2 everywhere, no spurious confidence
            shown = rng.choice([*p.candidates, other.answer or "?"])
            obs = verify_observation(p.question, shown)
            rows += [role.sft_row(obs, role.format_action(v)) for v in ("yes", "no")]
            continue
        elif name == "judge":
            obs, target = judge_format_example(cfg.judge, p.question, other.answer or "?", rng)
        else:
            obs, target = propose_observation([other.question]), p.question
        rows.append(role.sft_row(obs, role.format_action(target)))
    return rows
