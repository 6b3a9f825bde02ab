"""The six roles of the Absolute Zero arena and their format warm start.

`AZRole` reads a proposer's or solver's answer for its task type (the tags format, or AZR's
final <answer> span); `make_roles` builds the six (task, part) roles and `verifier_role` the
optional RISE verifier from the arena's `prompt:` config; `format_examples` writes the SFT rows
of the format warm start (format only: they teach no reasoning).

Not here: the step (absolute_zero.py) or the rules of the tasks (environments/absolute_zero).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sparring.agents.answer_formats import THINK_CLOSE, extract_answer
from sparring.agents.prompting import PromptConfig, build_role, chat_opens_reasoning, resolve_style
from sparring.agents.roles import Role
from sparring.arenas.absolute_zero_config import AbsoluteZeroArenaConfig
from sparring.arenas.absolute_zero_eval import grammar_seeds
from sparring.arenas.verification import checking_user_template
from sparring.environments.absolute_zero import prompts, tasks
from sparring.types import SamplingParams

PARTS = ("proposer", "solver")


@dataclass(frozen=True)
class AZRole(Role):
    """A role whose parse accepts a well-formed answer for its task and part (returns the text).

    `answer_tag` (AZR's format): the structured answer is read only from inside the final
    <answer></answer> after the reasoning (a solver may answer bare there); otherwise it is read
    from the whole completion outside <think> blocks. A prompt that ends in <think> (AZR's plain
    prompt) makes everything before the first </think> reasoning, in both formats."""

    task: str = "deduction"
    part: str = "proposer"
    answer_tag: bool = False

    def answer_body(self, text: str) -> str | None:
        """The part of a completion the task's parsers read; None when there is none (unfinished
        reasoning, or no <answer> span under answer_tag)."""
        if self.answer_tag:
            return extract_answer("answer_tag", text, self.starts_in_reasoning)
        if self.starts_in_reasoning:
            _, closed, text = text.partition(THINK_CLOSE)
            return text if closed else None
        return text

    def solver_answer(self, text: str) -> str | None:
        body = self.answer_body(text)
        return None if body is None else prompts.parse_solver_answer(self.task, body, bare=self.answer_tag)

    def proposal(self, text: str, program: str | None, max_inputs: int) -> tasks.Proposal | None:
        body = self.answer_body(text)
        return None if body is None else tasks.parse_proposal(self.task, body, program, max_inputs)

    def parse(self, text: str, legal: list[str] | None) -> str | None:
        body = self.answer_body(text)
        if body is None:
            return None
        if self.part == "solver":
            ok = prompts.parse_solver_answer(self.task, body, bare=self.answer_tag) is not None
        elif self.task == "induction":
            ok = prompts.parse_inputs_proposal(body) is not None
        else:
            ok = prompts.parse_triplet_proposal(body) is not None
        return text if ok else None

    def format_answer(self, answer: str) -> str:
        """A well-formed answer written as this role's completion (the warm start's targets)."""
        if self.answer_tag:
            answer = f"<answer>\n{answer}\n</answer>"
        return f"\n{THINK_CLOSE}\n\n{answer}" if self.starts_in_reasoning else answer


def make_roles(cfg: AbsoluteZeroArenaConfig, sampling: SamplingParams, tokenizer=None) -> dict[tuple[str, str], AZRole]:
    """The six roles (task, part) -> AZRole; temperature and top_p are the run's (MC rollouts too);
    the prompt style (`prompt.style`) is resolved against `tokenizer`."""
    p = cfg.prompt
    style = resolve_style(p.style, tokenizer)
    tagged = p.answer_format == "answer_tag"
    user = p.user or ("{observation}\n\n" + prompts.ANSWER_TAG_INSTRUCTION if tagged else "{observation}")
    opens = style == "chat" and chat_opens_reasoning(tokenizer)
    out = {}
    for task in cfg.task_types:
        for part in PARTS:
            cap = cfg.proposer_max_new_tokens if part == "proposer" else cfg.solver_max_new_tokens
            out[(task, part)] = AZRole(f"{task}/{part}", system_prompt=p.system or None, user_template=user,
                                       task=task, part=part, answer_tag=tagged, prompt_style=style,
                                       text_template=p.text, chat_opens_reasoning=opens,
                                       sampling=SamplingParams(cap, sampling.temperature, sampling.top_p))
    return out


def verifier_role(cfg: AbsoluteZeroArenaConfig, sampling: SamplingParams, tokenizer=None) -> Role:
    """The verifier in the arena's prompt style; brackets, or <answer></answer> under answer_tag."""
    p = cfg.prompt
    prompt = PromptConfig(style=p.style, answer_format="answer_tag" if p.answer_format == "answer_tag" else "bracket",
                          system=p.system, text=p.text)
    return build_role(prompt, "verifier", SamplingParams(cfg.verify.max_new_tokens, sampling.temperature, sampling.top_p),
                      tokenizer, default_user=checking_user_template)


def format_examples(cfg: AbsoluteZeroArenaConfig, count: int, seed: int,
                    sampling: SamplingParams = SamplingParams(), tokenizer=None) -> list[dict]:
    """`count` prompt/completion rows for the SFT warm start, spread over the six roles.

    Format only: targets are simple seed-style programs (tasks.FORMAT_EXAMPLES) written in the
    exact answer format, with the same prompts the arena builds; they teach no reasoning. With
    `grammar:` the programs are generated grammar triplets (training split) of the arena's task
    types, and a solver row answers with another triplet's answer (nothing about the right one).
    """
    rng = random.Random(seed * 7919 + 5)
    roles = make_roles(cfg, sampling, tokenizer)
    keys = [k for k in roles if cfg.grammar is None or k[0] in cfg.task_types]
    pools = grammar_seeds(cfg, count, salt="warm start") if cfg.grammar is not None else {}
    rows = []
    for i in range(count):
        task, part = keys[i % len(keys)]
        entries = pools.get(task) or tasks.format_entries(task)
        target = rng.choice(entries)
        if part == "solver":
            solver = tasks.solver_task(target)
            # grammar: another task's answer, so the row teaches the format and not the answer
            shown = tasks.solver_task(rng.choice(entries)) if cfg.grammar is not None else solver
            obs, answer = solver.prompt(), tasks.answer_text(shown)
        elif task == "induction":
            obs = prompts.propose_inputs_prompt(target.program, len(target.inputs))
            answer = tasks.proposal_text(target)
        else:
            others = [e for e in entries if e.program != target.program]
            refs = rng.sample(others, min(cfg.references, len(others)))
            obs = prompts.propose_triplet_prompt(task, [(e.program, e.input, e.output) for e in refs])
            answer = tasks.proposal_text(target)
        role = roles[(task, part)]
        rows.append(role.sft_row(obs, role.format_answer(answer)))
    return rows
