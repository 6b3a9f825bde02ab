"""Command line: `sparring train CONFIG.yaml [--set a.b=value ...]` and `sparring eval ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def cmd_train(args) -> int:
    from sparring.config import load_config
    from sparring.training.trainer import Trainer

    cfg = load_config(args.config, args.set or [])
    trainer = Trainer(cfg, show_progress=not args.no_progress)
    try:
        last = trainer.train()
        final = trainer.evaluate(cfg.eval.episodes) if cfg.eval.every or cfg.eval.at_start else {}
    finally:
        trainer.close()
    for k, v in sorted({**last, **final}.items()):
        if k.startswith(("reward/", "eval/", "rollout/invalid")):
            print(f"{k}={v:.4f}")
    print(f"run_dir={cfg.run.output_dir} steps={trainer.step}")
    return 0


def cmd_eval(args) -> int:
    from sparring.agents.hf_engine import HFEngine
    from sparring.agents.models import load_model, load_tokenizer, resolve
    from sparring.agents.policies import EnginePolicy, RandomPolicy
    from sparring.agents.roles import seat_roles
    from sparring.environments import make
    from sparring.training.evaluate import evaluate_async, format_table
    from sparring.types import SamplingParams

    path = resolve(args.model)
    tok = load_tokenizer(path)
    engine = HFEngine(load_model(path), tok)
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    policy = EnginePolicy(engine, trainable=False)

    async def run():
        results = []
        for game in args.game:
            roles = seat_roles(game, make(game).num_players, sampling)
            for spec in args.opponent:
                engines = []
                if spec == "random":
                    opponent = RandomPolicy(seed=args.seed)
                elif spec.startswith("checkpoint:"):
                    opp_path = spec.split(":", 1)[1]
                    opp_engine = HFEngine(load_model(opp_path), load_tokenizer(opp_path))
                    engines.append(opp_engine)
                    opponent = EnginePolicy(opp_engine, trainable=False)
                else:
                    raise SystemExit(f"--opponent {spec!r}: use 'random' or 'checkpoint:DIR'")
                results.append(await evaluate_async(policy, opponent, game, roles, args.episodes, opponent_name=spec))
                for e in engines:
                    await e.aclose()
        await engine.aclose()
        return results

    results = asyncio.run(run())
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.to_json() for r in results], f, indent=1)
    for r in results:
        print(f"{r.game}_payoff_vs_{r.opponent.split(':')[0]}={r.mean_payoff:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sparring", description="multi-agent self-play RL for language models")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from a YAML config (resumes an existing run dir)")
    t.add_argument("config")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. run.steps=10")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (logs instead)")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("eval", help="evaluate a model against opponents in every seat")
    e.add_argument("--model", required=True, help="'tiny', a checkpoint / model directory, or a hub id")
    e.add_argument("--game", action="append", required=True, help="game name (repeatable)")
    e.add_argument("--opponent", action="append", default=None, help="'random' or 'checkpoint:DIR' (repeatable)")
    e.add_argument("--episodes", type=int, default=1000, help="games per seat")
    e.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    e.add_argument("--max-new-tokens", type=int, default=8)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", help="write results to this JSON file")
    e.set_defaults(fn=cmd_eval)
    args = parser.parse_args(argv)
    if args.command == "eval" and not args.opponent:
        args.opponent = ["random"]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    from sparring.config import ConfigError

    try:
        return args.fn(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
