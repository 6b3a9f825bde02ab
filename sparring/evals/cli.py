"""Command-line side of the benchmarks: arguments and one command, for `sparring eval`.

``add_benchmark_args(parser)`` adds ``--benchmark {humaneval,code_reasoning,math,mcq,cruxeval}`` and
its options (plus ``--model``, ``--temperature``, ``--seed``, ``--json``, ``--answer-format``,
``--prompt-style`` and ``--max-new-tokens`` when the parser lacks them); ``cmd_benchmark(args)``
loads the model the way ``sparring eval`` does, runs the benchmark, prints a table and
``<name>=<value>`` lines, and writes JSON with ``--json``. It does not register a subcommand
itself: the caller's parser decides where the options live.

``--answer-format`` and ``--max-new-tokens`` default to None: each mode applies its own default
(games: bracket, 8 tokens; math/mcq: boxed, 1024). The code benchmarks (humaneval, code_reasoning,
cruxeval) use ``--code-max-new-tokens`` and ``--exec-timeout`` instead. An option given to a
benchmark it does not apply to is an error naming the option (``_APPLIES``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

log = logging.getLogger(__name__)

BENCHMARKS = ("humaneval", "code_reasoning", "math", "mcq", "cruxeval")
REASONING = ("math", "mcq")
FROM_DATA = ("math", "mcq", "cruxeval")  # read --data FILE or --dataset ID
REASONING_MAX_NEW_TOKENS = 1024


def _k_list(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes integers, e.g. 1 or 1,10; got {text!r}")
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k values must be >= 1, got {text!r}")
    return ks


def add_benchmark_args(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark options to ``parser`` (an existing ``--model`` etc. is reused)."""
    from sparring.agents.answer_formats import FORMATS
    from sparring.cli import at_least_one, non_negative

    g = parser.add_argument_group("benchmarks")
    g.add_argument("--benchmark", choices=BENCHMARKS, default=None,
                   help="run a benchmark instead of games")
    g.add_argument("--samples", type=at_least_one, default=1, help="answers sampled per problem (n)")
    g.add_argument("--k", type=_k_list, action="extend", default=None, metavar="K",
                   help="pass@k to report (repeatable or comma list; default 1; k <= samples)")
    g.add_argument("--triplets", default=None, metavar="FILE",
                   help="code_reasoning triplets JSONL (default: the built-in held-out set)")
    g.add_argument("--limit", type=int, default=None, metavar="N", help="first N problems only")
    g.add_argument("--canonical", action="store_true",
                   help="answer with the reference solutions / gold answers instead of a model "
                        "(harness check)")
    g.add_argument("--code-max-new-tokens", type=int, default=512,
                   help="token budget of one code answer")
    g.add_argument("--exec-timeout", type=float, default=5.0,
                   help="seconds of wall clock per sandboxed program")
    r = parser.add_argument_group("benchmarks from data (--benchmark math|mcq|cruxeval)")
    r.add_argument("--data", default=None, metavar="FILE",
                   help="problems from a .jsonl/.json/.parquet/.csv file")
    r.add_argument("--dataset", default=None, metavar="ID",
                   help="problems from a hub dataset (datasets.load_dataset), e.g. "
                        "HuggingFaceH4/MATH-500 or cruxeval-org/cruxeval")
    r.add_argument("--dataset-name", default=None, metavar="NAME",
                   help="the dataset's config name, e.g. main for gsm8k")
    r.add_argument("--split", default="test", help="the dataset split (default test)")
    r.add_argument("--question-field", default=None, metavar="FIELD",
                   help="default: math problem (else question); mcq question")
    r.add_argument("--answer-field", default=None, metavar="FIELD",
                   help="default answer (math: GSM8K's '... #### 42' keeps 42; mcq: a letter, a "
                        "0-based index, or an option's text)")
    r.add_argument("--options-field", default=None, metavar="FIELD",
                   help="mcq: a list column (default options), or one column per option: A,B,C,D")
    r.add_argument("--answers", default=None, metavar="FILE",
                   help="score answers written elsewhere instead of a model: JSONL of {id, answer}, "
                        "--samples lines per question id (cruxeval: one --cruxeval-mode per file)")
    r.add_argument("--check-timeout", type=float, default=10.0,
                   help="seconds per math-verify check before its worker is killed")
    c = parser.add_argument_group("CRUXEval (--benchmark cruxeval)")
    c.add_argument("--cruxeval-mode", choices=["output", "input", "both"], default=None,
                   help="output: predict f(input) (CRUXEval-O); input: find an input for the output "
                        "(CRUXEval-I); default both")
    c.add_argument("--code-field", default=None, metavar="FIELD",
                   help="the column holding the program that defines f (default code)")
    c.add_argument("--input-field", default=None, metavar="FIELD",
                   help="the column holding the call's arguments as Python source (default input)")
    c.add_argument("--output-field", default=None, metavar="FIELD",
                   help="the column holding the returned value as a Python literal (default output)")
    present = parser._option_string_actions  # noqa: SLF001 - reuse `sparring eval`'s options
    if "--model" not in present:
        g.add_argument("--model", default=None,
                       help="'tiny', a checkpoint / model directory, or a hub id")
    if "--temperature" not in present:
        g.add_argument("--temperature", type=non_negative, default=0.0, help="0 = greedy")
    if "--seed" not in present:
        g.add_argument("--seed", type=int, default=0)
    if "--json" not in present:
        g.add_argument("--json", default=None, help="write the report to this JSON file")
    if "--prompt-style" not in present:
        r.add_argument("--prompt-style", choices=["auto", "chat", "plain"], default="auto",
                       help="chat template or plain text prompt (auto: chat when the tokenizer "
                            "has a chat template)")
    if "--answer-format" not in present:  # (sparring eval has it, default None: each mode its own)
        r.add_argument("--answer-format", choices=sorted(FORMATS), default=None,
                       help="where the answer is read (default boxed)")
    if "--max-new-tokens" not in present:
        r.add_argument("--max-new-tokens", type=int, default=None,
                       help=f"token budget of one answer (default {REASONING_MAX_NEW_TOKENS})")


# option (argparse dest, default None) -> the benchmarks it applies to
_APPLIES = {
    "triplets": ("code_reasoning",),
    **{name: FROM_DATA for name in ("data", "dataset", "dataset_name", "answers")},
    "question_field": REASONING, "answer_field": REASONING, "options_field": ("mcq",),
    "answer_format": REASONING, "max_new_tokens": REASONING,
    **{name: ("cruxeval",) for name in ("cruxeval_mode", "code_field", "input_field",
                                        "output_field")},
}
_INSTEAD = {"max_new_tokens": " (the code benchmarks take --code-max-new-tokens)"}


def cruxeval_modes(args) -> tuple[str, ...]:
    mode = getattr(args, "cruxeval_mode", None)
    return ("output", "input") if mode in (None, "both") else (mode,)


def _check(args) -> str | None:
    """A message naming the bad option, or None."""
    if args.benchmark not in BENCHMARKS:
        return f"--benchmark must be one of {BENCHMARKS}, got {args.benchmark!r}"
    if args.limit is not None and args.limit < 1:
        return f"--limit must be >= 1, got {args.limit}"
    too_big = [k for k in (args.k or [1]) if k > args.samples]
    if args.benchmark != "code_reasoning" and too_big:
        return f"pass@{too_big[0]} needs --samples >= {too_big[0]} (got {args.samples})"
    given = sum([args.canonical, bool(args.model), args.answers is not None])
    if given == 0:
        return ("--model is required (or --canonical for a harness check, or --answers FILE with "
                f"{'|'.join(FROM_DATA)})")
    if given > 1:
        return "give only one of --model, --canonical or --answers"
    for name, benchmarks in _APPLIES.items():
        if getattr(args, name, None) is not None and args.benchmark not in benchmarks:
            return (f"--{name.replace('_', '-')} applies to --benchmark {'|'.join(benchmarks)} "
                    f"only{_INSTEAD.get(name, '')}")
    if args.exec_timeout <= 0:
        return f"--exec-timeout must be > 0, got {args.exec_timeout}"
    if args.benchmark not in FROM_DATA:
        return None
    if (args.data is None) == (args.dataset is None):
        hint = " (e.g. --dataset cruxeval-org/cruxeval)" if args.benchmark == "cruxeval" else ""
        return (f"--benchmark {args.benchmark} needs exactly one of --data FILE or --dataset "
                f"ID{hint}")
    if args.benchmark == "cruxeval":
        if args.answers is not None and len(cruxeval_modes(args)) > 1:
            return ("--answers with --benchmark cruxeval needs --cruxeval-mode output or input "
                    "(one answers file per mode, ids as the problems have them)")
        return None
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        return f"--max-new-tokens must be >= 1, got {args.max_new_tokens}"
    if args.check_timeout <= 0:
        return f"--check-timeout must be > 0, got {args.check_timeout}"
    return None


def cmd_benchmark(args) -> int:
    """Run ``args.benchmark``; 0 on success, 2 on bad options (message on stderr)."""
    error = _check(args)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from sparring.evals import code_reasoning, cruxeval, humaneval, reasoning

    ks = sorted(set(args.k or [1]))
    try:
        items = _load(args)
    except reasoning.MissingField as e:
        print(f"error: --{e.key.replace('_', '-')}: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        source = {"code_reasoning": "--triplets"}.get(args.benchmark) or (
            "--data" if args.data else "--dataset")
        print(f"error: {source}: {e}", file=sys.stderr)
        return 2
    if args.samples > 1 and args.temperature <= 0 and not args.canonical:
        log.warning("--samples %d with greedy decoding: all samples are the same answer",
                    args.samples)

    scripted = args.canonical or args.answers is not None
    asked = cruxeval.tasks(items, cruxeval_modes(args)) if args.benchmark == "cruxeval" else items
    if args.answers is not None:
        try:
            replies = reasoning.load_answers(args.answers, asked, args.samples)
        except (OSError, ValueError) as e:
            print(f"error: --answers: {e}", file=sys.stderr)
            return 2

    async def run():
        engine = tokenizer = None
        if not scripted:
            policy, engine = _model_policy(args)
            tokenizer = engine.tokenizer
        try:
            if args.benchmark in REASONING:
                role = reasoning.reasoning_role(
                    args.benchmark, args.answer_format,
                    args.prompt_style, tokenizer,
                    args.max_new_tokens if args.max_new_tokens is not None else REASONING_MAX_NEW_TOKENS,
                    args.temperature)
                if args.canonical:
                    policy = reasoning.canonical_policy(items, role)
                elif args.answers is not None:
                    policy = reasoning.answers_policy(items, replies)
                return await reasoning.evaluate(policy, items, role, samples=args.samples, ks=ks,
                                                check_timeout_s=args.check_timeout,
                                                benchmark=args.benchmark)
            if args.benchmark == "cruxeval":
                if args.canonical:
                    policy = cruxeval.canonical_policy(asked)
                elif args.answers is not None:
                    policy = reasoning.answers_policy(asked, replies)
                return await cruxeval.evaluate(
                    policy, items, modes=cruxeval_modes(args), samples=args.samples, ks=ks,
                    max_new_tokens=args.code_max_new_tokens, temperature=args.temperature,
                    timeout_s=args.exec_timeout)
            if args.canonical:
                policy = (humaneval.canonical_policy(items) if args.benchmark == "humaneval"
                          else code_reasoning.canonical_policy(items))
            if args.benchmark == "humaneval":
                role = humaneval.humaneval_role(args.code_max_new_tokens, args.temperature)
                return await humaneval.evaluate(policy, items, samples=args.samples, ks=ks,
                                                role=role, timeout_s=args.exec_timeout)
            return await code_reasoning.evaluate(
                policy, items, samples=args.samples, max_new_tokens=args.code_max_new_tokens,
                temperature=args.temperature, timeout_s=args.exec_timeout)
        finally:
            if engine is not None:
                await engine.aclose()

    report = asyncio.run(run())
    module = {"humaneval": humaneval, "code_reasoning": code_reasoning,
              "cruxeval": cruxeval}.get(args.benchmark, reasoning)
    print(module.format_table(report))
    for name, value in report.metrics().items():
        print(f"{name}={value:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": args.benchmark, "model": args.model,
                       "canonical": args.canonical, **report.to_json()}, f, indent=1)
    return 0


def _load(args) -> list:
    """The benchmark's problems, triplets or questions (OSError / ValueError on bad data)."""
    from sparring.evals import code_reasoning, cruxeval, humaneval, reasoning

    if args.benchmark == "humaneval":
        return humaneval.load_problems(limit=args.limit)
    if args.benchmark == "code_reasoning":
        return code_reasoning.load_triplets(args.triplets, limit=args.limit)
    if args.benchmark == "cruxeval":
        return cruxeval.load_problems(
            path=args.data, dataset=args.dataset, name=args.dataset_name, split=args.split,
            code_field=args.code_field, input_field=args.input_field,
            output_field=args.output_field, limit=args.limit)
    return reasoning.load_questions(
        args.benchmark, path=args.data, dataset=args.dataset, name=args.dataset_name,
        split=args.split, question_field=args.question_field, answer_field=args.answer_field,
        options_field=args.options_field, limit=args.limit)


def _model_policy(args):
    """The model's policy and engine; `sparring eval`'s loader, so a bad --model or --engine is a
    one-line error."""
    import torch

    from sparring.cli import model_policy

    torch.manual_seed(args.seed)
    policy = model_policy(args.model, getattr(args, "engine", "hf"))
    return policy, policy.engine


def main(argv: list[str] | None = None) -> int:
    """``python -m sparring.evals.cli --benchmark math --data FILE ...`` (also ``sparring eval``)."""
    parser = argparse.ArgumentParser(prog="python -m sparring.evals.cli",
                                     description="benchmarks: HumanEval, code reasoning, math, "
                                                 "multiple choice, CRUXEval")
    add_benchmark_args(parser)
    args = parser.parse_args(argv)
    if args.benchmark is None:
        parser.error("--benchmark is required")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return cmd_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
