"""The Absolute Zero arena: one shared model proposes code tasks and solves them (Zhao et al. 2025).

Each step (`play_step`) runs four phases, each batched (engine requests gathered concurrently,
sandbox runs issued concurrently):

  A. propose   per task type, `episodes_per_step` proposer turns: deduction/abduction proposers
               see K reference triplets from that task's buffer and write (f, input); induction
               proposers get a program from the deduction/abduction buffers and write inputs and
               a message.                                                       [generation]
  B. validate  the Executor checks every proposal (static check + two runs in separate processes
               that must agree); valid ones become buffer entries.                 [sandbox]
  C. solve     N Monte-Carlo solver rollouts per valid proposal (at the training temperature,
               used only for the proposer's learnability reward and NOT trained), together with
               the solve phase: per task type `episodes_per_step` solver tasks, this step's new
               tasks first (valid proposals the buffer did not hold yet, each once: a proposer
               repeating one task must not fill the solve batch with it), topped up with
               recency-weighted buffer samples; these solver turns are trained, each task
               answered `solver_samples` times (one group).                   [generation]
  D. check     answers are checked (deduction by value, abduction and induction by running code
               in the sandbox) and rewards assigned (rewards.py).                  [sandbox]

Before the first step, `prepare` runs the seeding stage of `seed:` (absolute_zero_seeding.py):
untrained rounds of A and B until every buffer holds a seed set, after a seed file's tasks.

Every trained turn is its own single-player `Episode` with role `<task>/proposer` or
`<task>/solver`, so credit's baseline key (arena, role) gives TRR++ its six (task, role)
baselines. With `solver_samples: 1` (the paper) every trained turn answers a prompt of its own (one
solve per task, references sampled per proposal), so the arena declares no GRPO groups: grpo
normalises per (task, role) as TRR++ does. With K > 1 the K answers to one solve-phase task are
one group (`Episode.group`), for a group estimator of the solver roles (grpo, dr_grpo, maxrl);
proposer turns still have none. A malformed answer is a counted outcome with the format penalty: its
turn is marked `invalid` and the episode's `forfeit` is 0, so credit trains it with that penalty
(it is never retried). A failure of the sandbox itself ("sandbox_error") is no verdict on the model: that
proposal or answer is counted (`az/untrained_turns`) but its turn is not trainable, and a
Monte-Carlo check that failed that way is left out of the proposer's mean_solve. Metrics (`az/...`,
`perf/az_*`) come from `metrics()`; the buffers resume from checkpoints (`state_dict`) and are
exported as JSONL (`export_buffers`, and after every step when an export path is set).

Not here: the rules of the tasks (environments/absolute_zero), the sandbox, or any torch.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from sparring.agents.policies import EnginePolicy
from sparring.arenas import absolute_zero_seeding
from sparring.arenas.absolute_zero_config import AbsoluteZeroArenaConfig
from sparring.arenas.absolute_zero_eval import evaluate_heldout, grammar_seeds, load_eval_triplets
from sparring.arenas.absolute_zero_roles import (PARTS, AZRole, format_examples, make_roles,  # noqa: F401
                                                  verifier_role)  # (format_examples, AZRole: re-exported)
from sparring.arenas.base import Arena, ArenaContext, register_arena
from sparring.arenas.verification import Candidate, VerificationStage, verdict_pairs, verification_metrics
from sparring.config import EvalConfig, WarmStartConfig
from sparring.environments.absolute_zero import grammar, prompts, rewards, tasks
from sparring.environments.absolute_zero.buffers import Buffers, Entry
from sparring.environments.absolute_zero.checks import CallResult, ValidationConfig
from sparring.environments.absolute_zero.tasks import PROPOSAL_REJECTIONS, Proposal, SolverTask
from sparring.types import Episode, SamplingParams, Turn

LEARNABILITY_BINS = ("zero", "low", "mid", "high")  # 0 (all or none solved), (0, 1/3], (1/3, 2/3], (2/3, 1]


def _learnability_bin(x: float) -> str:
    return "zero" if x <= 0 else "low" if x <= 1 / 3 else "mid" if x <= 2 / 3 else "high"


@dataclass
class _Proposal:
    """One proposer turn through the step."""

    task: str
    seed: int
    observation: str
    references: list[str]  # reference programs (deduction/abduction) or the given program (induction)
    program: str | None = None  # induction: the program the inputs are for
    turn: Turn | None = None
    proposal: Proposal | None = None
    outcome: str = "valid"  # "valid" or one of PROPOSAL_REJECTIONS
    entry: Entry | None = None
    added: bool = False
    mc_scores: list[float] = field(default_factory=list)
    reward: float = 0.0


@dataclass
class _Solve:
    """One solver turn: a Monte-Carlo rollout of a proposal (`owner` set) or a trained solve."""

    task: SolverTask
    seed: int
    owner: _Proposal | None = None
    group: int | None = None  # solve phase with solver_samples > 1: the seed of the group's first answer
    turn: Turn | None = None
    answer: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    score: float = 0.0
    sandbox_error: bool = False  # a check failed in the sandbox itself: no score, not trained


@register_arena("absolute_zero")
class AbsoluteZeroArena(Arena):
    config_model = AbsoluteZeroArenaConfig

    def __init__(self, cfg: AbsoluteZeroArenaConfig, policy, executor, sampling: SamplingParams = SamplingParams(),
                 export_path: str | Path | None = None, sandbox=None, tokenizer=None,
                 seed_log: str | Path | None = None, eval_engine=None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.policy = policy
        self.executor = executor
        self.roles = make_roles(cfg, sampling, tokenizer)
        self.penalties = rewards.Penalties.scheme(cfg.reward.scheme)
        self.buffers = Buffers(cfg.buffer.cap, cfg.buffer.recency)
        if cfg.grammar is not None:
            for task, entries in grammar_seeds(cfg).items():
                for e in entries:
                    self.buffers[task].add(e)
        self.eval_engine = eval_engine
        self.eval_set = load_eval_triplets(cfg.eval_triplets) if cfg.eval_triplets else []
        self.export_path = Path(export_path) if export_path else None
        self.seed_log = Path(seed_log) if seed_log else None  # entries of the seeding stage, to resume it
        self.seeded = False  # the seeding stage ran (or RL started: a checkpoint says so)
        self._sandbox = sandbox  # closed with the arena when given (the Executor leaves a shared one open)
        self._perf: dict[str, float] = {}
        self.verify = None
        if cfg.verify is not None:
            self.verify = VerificationStage(cfg.verify, policy, verifier_role(cfg, sampling, tokenizer), self.name)

    @classmethod
    def from_config(cls, cfg: AbsoluteZeroArenaConfig, ctx: ArenaContext) -> AbsoluteZeroArena:
        """The arena with its own sandbox and Executor (closed by `aclose`), the buffer export path and
        the seeding log, both under <run dir>/absolute_zero/<name>/."""
        from sparring.environments.absolute_zero.validation import Executor
        from sparring.sandbox import Sandbox

        if ctx.cluster is not None and ctx.cluster.sandbox_workers:  # the run's pool of Ray sandbox actors
            from sparring.cluster.sandbox_pool import RaySandbox

            sandbox = RaySandbox(ctx.cluster.sandbox_workers, cfg.sandbox.backend, cfg.sandbox.workers or None,
                                 ctx.cluster.sandbox_cpus, name=f"sparring-sandbox-{cfg.name}")
        else:
            sandbox = Sandbox(cfg.sandbox.backend, workers=cfg.sandbox.workers or None)
        executor = Executor(sandbox, validation_config(cfg))
        own = None if ctx.run_dir is None else Path(ctx.run_dir) / "absolute_zero" / cfg.name
        export = own / "buffers.jsonl" if own is not None and cfg.export_buffers else None
        return cls(cfg, ctx.policy, executor, ctx.sampling, export, sandbox=sandbox, tokenizer=ctx.tokenizer,
                   seed_log=None if own is None else own / "seed.jsonl", eval_engine=ctx.engine)

    @classmethod
    def warm_start_rows(cls, cfg: AbsoluteZeroArenaConfig, ctx: ArenaContext, warm_start: WarmStartConfig,
                        count: int) -> list[dict]:
        """Format-only rows for the six roles (see `format_examples`)."""
        return format_examples(cfg, count, ctx.seed, ctx.sampling, ctx.tokenizer)

    # ----- the step ----------------------------------------------------------------------------
    async def play_step(self, step: int, seeds: Sequence[int]) -> list[Episode]:
        if not seeds:
            return []
        rng = random.Random(f"{self.name}/{step}/{seeds[0]}")
        perf = Counter()
        props = await self.propose(self.cfg.task_types, rng, seeds, step, perf)  # A. propose, B. validate
        for p in props:
            if p.entry is not None:
                p.added = self.buffers[p.task].add(p.entry)
        solves = self._plan_solves(rng, props, seeds)
        t0 = time.perf_counter()  # C. Monte-Carlo rollouts and the solve phase, one batch
        turns = await asyncio.gather(*(self._act(s.task.task, "solver", s.task.prompt()) for s in solves))
        perf["perf/az_generation_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()  # D. check
        perf["perf/az_sandbox_runs"] = float(await self._check(solves, turns))
        perf["perf/az_sandbox_s"] += time.perf_counter() - t0
        episodes = [self._proposer_episode(p, step) for p in props]
        episodes += [self._solver_episode(s, step) for s in solves if s.owner is None]
        if self.verify is not None:  # E. verify (optional): the model judges its trained answers
            t0 = time.perf_counter()
            episodes += await self.verify.run(self._candidates(solves), step)
            perf["perf/az_generation_s"] += time.perf_counter() - t0
        self._perf = dict(perf)
        return episodes

    async def propose(self, task_types: Sequence[str], rng: random.Random, seeds: Sequence[int], step: int,
                      perf: Counter) -> list[_Proposal]:
        """Phases A and B for `task_types`, one proposal per seed each: proposer turns, parsed and
        validated; a valid proposal gets its `entry` (stored by the caller: the step, or seeding)."""
        props = self._plan_proposals(rng, seeds, task_types)
        t0 = time.perf_counter()
        turns = await asyncio.gather(*(self._act(p.task, "proposer", p.observation) for p in props))
        perf["perf/az_generation_s"] += time.perf_counter() - t0
        for p, turn in zip(props, turns):
            self._parse_proposal(p, turn)
        t0 = time.perf_counter()
        await self._validate(props, step)
        perf["perf/az_sandbox_s"] += time.perf_counter() - t0
        return props

    async def _act(self, task: str, part: str, observation: str) -> Turn:
        return await self.policy.act(self.roles[(task, part)], 0, observation, None)

    def _plan_proposals(self, rng: random.Random, seeds: Sequence[int],
                        task_types: Sequence[str]) -> list[_Proposal]:
        out = []
        for task in task_types:
            for seed in seeds:
                if task == "induction":
                    (source,) = self.buffers.programs(rng, 1)
                    obs = prompts.propose_inputs_prompt(source.program, self.cfg.induction_inputs)
                    out.append(_Proposal(task, seed, obs, [source.program], program=source.program))
                else:
                    refs = self.buffers[task].sample_distinct(rng, self.cfg.references)
                    obs = prompts.propose_triplet_prompt(task, [(e.program, e.input, e.output) for e in refs])
                    out.append(_Proposal(task, seed, obs, [e.program for e in refs]))
        return out

    def _parse_proposal(self, p: _Proposal, turn: Turn) -> None:
        p.turn = turn
        if turn.invalid:
            p.outcome = "truncated" if turn.truncated else "bad_format"
            return
        p.proposal = self.roles[(p.task, "proposer")].proposal(turn.text, p.program, self.cfg.induction_inputs)
        if p.proposal is None:  # the role's parse and this one agree; kept as a guard
            p.outcome = "bad_format"
            return
        p.outcome = tasks.precheck(p.proposal, self.cfg.induction_inputs, not self.cfg.checks.helpers) or "valid"
        if p.outcome == "valid" and self.cfg.grammar is not None and p.task != "induction" \
                and not grammar.in_grammar(p.proposal.program):
            p.outcome = "outside_grammar"

    async def _validate(self, props: list[_Proposal], step: int) -> None:
        todo = [p for p in props if p.outcome == "valid"]
        items = [(p.proposal.program, i) for p in todo for i in p.proposal.inputs]
        results: list[CallResult] = await self.executor.validate_many(items) if items else []
        k = 0
        for p in todo:
            n = len(p.proposal.inputs)
            p.entry, reason = tasks.accept(p.proposal, results[k:k + n], step)
            k += n
            p.outcome = reason or "valid"

    def _plan_solves(self, rng: random.Random, props: list[_Proposal], seeds: Sequence[int]) -> list[_Solve]:
        out = []
        for p in props:  # Monte-Carlo rollouts: reward estimates only, never trained
            if p.entry is not None:
                task = tasks.solver_task(p.entry)
                out += [_Solve(task, p.seed, owner=p) for _ in range(self.cfg.mc_samples)]
        k = self.cfg.solver_samples
        n_tasks = -(-len(seeds) // k)  # the trained answers stay one per seed, k to a task
        for t in self.cfg.task_types:  # the solve phase: this step's valid proposals, then the buffer
            fresh = [p.entry for p in props if p.task == t and p.added][:n_tasks]  # new tasks, each once
            picked = fresh + self.buffers[t].sample(rng, n_tasks - len(fresh))
            answers = [e for e in picked for _ in range(k)]
            out += [_Solve(tasks.solver_task(e), seed, group=seeds[i - i % k] if k > 1 else None)
                    for i, (e, seed) in enumerate(zip(answers, seeds))]
        return out

    async def _check(self, solves: list[_Solve], turns: Sequence[Turn]) -> int:
        """Parse and score every solver answer; returns the number of sandbox runs."""
        for s, turn in zip(solves, turns):
            s.turn = turn
            s.answer = None if turn.invalid else self.roles[(s.task.task, "solver")].solver_answer(turn.text)
            s.calls = tasks.answer_calls(s.task, s.answer) if s.answer is not None else []
        items = [c for s in solves for c in s.calls]
        results: list[CallResult] = await self.executor.run_many(items) if items else []
        k = 0
        for s in solves:
            mine = results[k:k + len(s.calls)]
            k += len(s.calls)
            s.sandbox_error = any(r.reason == "sandbox_error" for r in mine)
            if s.answer is not None and not s.sandbox_error:
                s.score = tasks.score_answer(s.task, s.answer, mine, self.cfg.reward.induction_scoring,
                                             self.cfg.checks.equality)
            if s.owner is not None and not s.sandbox_error:
                s.owner.mc_scores.append(s.score)
        return len(items)

    def _candidates(self, solves: list[_Solve]) -> list[Candidate]:
        """The trained solver answers the sandbox could check (right iff the score is 1)."""
        show = self.cfg.verify.show
        return [Candidate(s.task.prompt(), s.answer if show == "answer" else s.turn.text, s.score == 1.0, s.seed)
                for s in solves if s.owner is None and s.answer is not None and not s.sandbox_error]

    # ----- rewards and episodes -----------------------------------------------------------------
    @staticmethod
    def _untrained(p: _Proposal) -> bool:
        """The sandbox itself failed (validation, or every Monte-Carlo check): no reward exists."""
        return p.outcome == "sandbox_error" or (p.outcome == "valid" and not p.mc_scores)

    def _proposer_reward(self, p: _Proposal) -> float:
        if self._untrained(p):
            return 0.0  # recorded, never trained on (the turn is marked not trainable)
        if p.outcome in ("bad_format", "truncated"):
            return rewards.proposer_reward("bad_format", penalties=self.penalties)
        if p.outcome != "valid":
            return rewards.proposer_reward("invalid", penalties=self.penalties)
        bonus = 0.0
        if p.task != "induction":
            r = self.cfg.reward
            bonus = rewards.proposal_bonus(p.entry.program, p.references, r.complexity_coef, r.complexity_max,
                                           r.diversity_coef, r.diversity_max)
        return rewards.proposer_reward("valid", p.mc_scores, self.penalties, bonus)

    def _proposer_episode(self, p: _Proposal, step: int) -> Episode:
        p.reward = self._proposer_reward(p)
        valid, scored, trained = p.outcome == "valid", bool(p.mc_scores), not self._untrained(p)
        meta = {"phase": "propose", "step": step, "outcome": p.outcome, "added": p.added,
                "program_chars": len(p.entry.program) if valid and p.task != "induction" else None,
                "program_ast_nodes": rewards.ast_node_count(p.entry.program) if valid and p.task != "induction" else None,
                "mean_solve": rewards.mean(p.mc_scores) if scored else None,
                "learnability": rewards.learnability(p.mc_scores) if scored else None}
        turn = p.turn if trained else replace(p.turn, trainable=False)
        return Episode(self.name, p.task, p.seed, [turn], [p.reward], [self.roles[(p.task, "proposer")].name], meta,
                       forfeit=0 if p.turn.invalid else None)

    def _solver_episode(self, s: _Solve, step: int) -> Episode:
        trained = not s.sandbox_error
        reward = rewards.solver_reward(s.answer is not None, s.score, self.penalties) if trained else 0.0
        meta = {"phase": "solve", "step": step, "score": s.score, "well_formed": s.answer is not None,
                "task_step": s.task.step}
        turn = s.turn if trained else replace(s.turn, trainable=False)
        return Episode(self.name, s.task.task, s.seed, [turn], [reward], [self.roles[(s.task.task, "solver")].name], meta,
                       forfeit=0 if s.turn.invalid else None, group=s.group)

    # ----- metrics ------------------------------------------------------------------------------
    def metrics(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """az/<task>/... rates and rejection counts, buffer sizes, program length, learnability,
        untrained turns (sandbox failures), and perf/az_generation_s, perf/az_sandbox_s of the last step."""
        out: dict[str, float] = dict(self._perf)
        scored_props: list[Episode] = []
        for t in self.cfg.task_types:
            props = [e for e in episodes if e.task == t and e.metadata.get("phase") == "propose"]
            solves = [e for e in episodes if e.task == t and e.metadata.get("phase") == "solve" and e.turns[0].trainable]
            outcomes = Counter(e.metadata["outcome"] for e in props)
            scored = [e for e in props if e.metadata["learnability"] is not None]
            scored_props += scored
            out[f"az/{t}/proposals"] = float(len(props))
            out[f"az/{t}/valid_rate"] = outcomes["valid"] / max(len(props), 1)
            for reason in PROPOSAL_REJECTIONS:
                out[f"az/{t}/reject/{reason}"] = float(outcomes[reason])
            out[f"az/{t}/added"] = float(sum(e.metadata["added"] for e in props))
            out[f"az/{t}/mc_solve_rate"] = _mean([e.metadata["mean_solve"] for e in scored])
            out[f"az/{t}/learnable_rate"] = _mean([e.metadata["learnability"] > 0 for e in scored])
            out[f"az/{t}/solve_rate"] = _mean([e.metadata["score"] for e in solves])
            out[f"az/{t}/solver_format_rate"] = _mean([e.metadata["well_formed"] for e in solves])
            out[f"az/buffer/{t}"] = float(len(self.buffers[t]))
        chars = [e.metadata["program_chars"] for e in episodes if e.metadata.get("program_chars") is not None]
        out["az/program_chars_mean"] = _mean(chars)
        nodes = [e.metadata["program_ast_nodes"] for e in episodes if e.metadata.get("program_ast_nodes") is not None]
        out["az/program_ast_nodes_mean"] = _mean(nodes)
        learn = [e.metadata["learnability"] for e in scored_props]
        out["az/learnability_mean"] = _mean(learn)
        bins = Counter(_learnability_bin(x) for x in learn)
        for name in LEARNABILITY_BINS:
            out[f"az/learnability_{name}_share"] = bins[name] / len(learn) if learn else 0.0
        out["az/untrained_turns"] = float(sum(not t.trainable for e in episodes for t in e.turns))
        out.update(verification_metrics(verdict_pairs(episodes), f"verify/{self.name}"))
        return out

    @classmethod
    def report_charts(cls, name: str, keys: list[str]) -> list[tuple[str, list[str]]]:
        """Valid-proposal and solve rates, rejection reasons, buffer growth, learnability."""
        def pick(test):
            return sorted(k for k in keys if k.startswith("az/") and test(k))
        charts = [("Absolute Zero: valid proposals and solve rates", pick(lambda k: k.endswith(("/valid_rate", "/solve_rate")))),
                  ("Absolute Zero: rejection reasons (count per step)", pick(lambda k: "/reject/" in k)),
                  ("Absolute Zero: buffer sizes", pick(lambda k: k.startswith("az/buffer/"))),
                  ("Absolute Zero: learnability", pick(lambda k: k.startswith("az/learnability")))]
        return [(title, ks) for title, ks in charts if ks]

    # ----- seeding, state, export, lifecycle -------------------------------------------------------
    async def prepare(self, show_progress: bool = True) -> dict[str, float]:
        """The seeding stage (`seed:`; absolute_zero_seeding.py) unless it ran. A hook before the first
        step, not work in the first `play_step`: it trains nothing, makes no episodes, shows its own
        progress bar (which cannot nest in the trainer's) and its time stays out of step 1."""
        if self.seeded:
            return {}
        seeding = self.cfg.seed.size > 0 or self.cfg.seed.path is not None
        out = await absolute_zero_seeding.run(self, show_progress) if seeding else {}
        self.seeded = True
        return out

    async def evaluate(self, cfg: EvalConfig) -> dict[str, float]:
        """Greedy (eval.temperature) solver accuracy on `eval_triplets`, checked in the sandbox."""
        if not self.eval_set or self.eval_engine is None:
            return {}
        policy = EnginePolicy(self.eval_engine, trainable=False, temperature=cfg.temperature)
        return await evaluate_heldout(self, policy, self.eval_set)

    def state_dict(self) -> dict:
        return {"buffers": self.buffers.state_dict(), "seeded": self.seeded}

    def load_state_dict(self, state: dict) -> None:
        self.buffers.load_state_dict(state["buffers"])
        self.seeded = state.get("seeded", True)  # older checkpoints: RL had started, so no seeding

    def export_buffers(self, path: str | Path) -> Path:
        """Write every buffer entry as a JSON line (the code-reasoning eval reads this)."""
        return self.buffers.export_jsonl(path)

    def after_update(self, step: int, model=None) -> None:
        if self.export_path is not None:
            self.export_buffers(self.export_path)

    async def aclose(self) -> None:
        await self.executor.aclose()
        if self._sandbox is not None:
            await asyncio.to_thread(self._sandbox.close)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values)) / len(values) if values else 0.0


# ----- construction and warm start ----------------------------------------------------------
def validation_config(cfg: AbsoluteZeroArenaConfig) -> ValidationConfig:
    return ValidationConfig(timeout_s=cfg.sandbox.timeout_s, memory_mb=cfg.sandbox.memory_mb)
