"""Command-line side of the code benchmarks: arguments and one command, for `sparring eval`.

``add_benchmark_args(parser)`` adds ``--benchmark {humaneval,code_reasoning}`` and its options
(plus ``--model``, ``--temperature``, ``--seed`` and ``--json`` when the parser lacks them);
``cmd_benchmark(args)`` loads the model the way ``sparring eval`` does, runs the benchmark,
prints a table and ``<name>=<value>`` lines, and writes JSON with ``--json``. It does not
register a subcommand itself: the caller's parser decides where the options live.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

log = logging.getLogger(__name__)

BENCHMARKS = ("humaneval", "code_reasoning")


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
    g = parser.add_argument_group("code benchmarks")
    g.add_argument("--benchmark", choices=BENCHMARKS, default=None,
                   help="run a code benchmark instead of games")
    g.add_argument("--samples", type=int, default=1, help="answers sampled per problem (n)")
    g.add_argument("--k", type=_k_list, action="extend", default=None, metavar="K",
                   help="pass@k to report (repeatable or comma list; default 1; k <= samples)")
    g.add_argument("--triplets", default=None, metavar="FILE",
                   help="code_reasoning triplets JSONL (default: the built-in held-out set)")
    g.add_argument("--limit", type=int, default=None, metavar="N", help="first N problems only")
    g.add_argument("--canonical", action="store_true",
                   help="answer with the reference solutions instead of a model (harness check)")
    g.add_argument("--code-max-new-tokens", type=int, default=512,
                   help="token budget of one code answer")
    g.add_argument("--exec-timeout", type=float, default=5.0,
                   help="seconds of wall clock per sandboxed program")
    present = parser._option_string_actions  # noqa: SLF001 - reuse `sparring eval`'s options
    if "--model" not in present:
        g.add_argument("--model", default=None,
                       help="'tiny', a checkpoint / model directory, or a hub id")
    if "--temperature" not in present:
        g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    if "--seed" not in present:
        g.add_argument("--seed", type=int, default=0)
    if "--json" not in present:
        g.add_argument("--json", default=None, help="write the report to this JSON file")


def _check(args) -> str | None:
    """A message naming the bad option, or None."""
    if args.benchmark not in BENCHMARKS:
        return f"--benchmark must be one of {BENCHMARKS}, got {args.benchmark!r}"
    if args.samples < 1:
        return f"--samples must be >= 1, got {args.samples}"
    if args.limit is not None and args.limit < 1:
        return f"--limit must be >= 1, got {args.limit}"
    too_big = [k for k in (args.k or [1]) if k > args.samples]
    if args.benchmark == "humaneval" and too_big:
        return f"pass@{too_big[0]} needs --samples >= {too_big[0]} (got {args.samples})"
    if not args.canonical and not args.model:
        return "--model is required (or --canonical for a harness check)"
    if args.triplets is not None and args.benchmark != "code_reasoning":
        return "--triplets applies to --benchmark code_reasoning only"
    return None


def cmd_benchmark(args) -> int:
    """Run ``args.benchmark``; 0 on success, 2 on bad options (message on stderr)."""
    error = _check(args)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from sparring.evals import code_reasoning, humaneval

    ks = sorted(set(args.k or [1]))
    if args.benchmark == "humaneval":
        items = humaneval.load_problems(limit=args.limit)
    else:
        try:
            items = code_reasoning.load_triplets(args.triplets, limit=args.limit)
        except (OSError, ValueError) as e:
            print(f"error: --triplets: {e}", file=sys.stderr)
            return 2
    if args.samples > 1 and args.temperature <= 0 and not args.canonical:
        log.warning("--samples %d with greedy decoding: all samples are the same answer",
                    args.samples)

    async def run():
        engine = None
        if args.canonical:
            policy = (humaneval.canonical_policy(items) if args.benchmark == "humaneval"
                      else code_reasoning.canonical_policy(items))
        else:
            policy, engine = _model_policy(args)
        try:
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
    module = humaneval if args.benchmark == "humaneval" else code_reasoning
    print(module.format_table(report))
    for name, value in report.metrics().items():
        print(f"{name}={value:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": args.benchmark, "model": args.model,
                       "canonical": args.canonical, **report.to_json()}, f, indent=1)
    return 0


def _model_policy(args):
    import torch

    from sparring.agents.engines import make_engine
    from sparring.agents.models import load_model, load_tokenizer, resolve
    from sparring.agents.policies import EnginePolicy

    torch.manual_seed(args.seed)
    path = resolve(args.model)
    from sparring.config import EngineConfig

    engine = make_engine(EngineConfig(backend=getattr(args, "engine", "hf")), load_model(path), load_tokenizer(path))
    return EnginePolicy(engine, trainable=False), engine


def main(argv: list[str] | None = None) -> int:
    """``python -m sparring.evals.cli --benchmark humaneval ...`` until `sparring eval` has it."""
    parser = argparse.ArgumentParser(prog="python -m sparring.evals.cli",
                                     description="code benchmarks: HumanEval, code reasoning")
    add_benchmark_args(parser)
    args = parser.parse_args(argv)
    if args.benchmark is None:
        parser.error("--benchmark is required")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return cmd_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
