"""Command line: `sparring train CONFIG.yaml [--set a.b=value ...]`, `sparring eval ...`, `sparring play GAME ...`,
`sparring report RUN_DIR ...`.

Every command takes `--import MODULE` (repeatable): the user's modules that register games,
arena kinds, estimators or engines; `sparring.plugins` entry points are loaded as well.
"""

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
    from sparring.cluster import WorkerDied
    from sparring.config import load_config
    from sparring.training.trainer import Trainer

    cfg = load_config(args.config, args.set or [], imports=args.imports or [])
    trainer = Trainer(cfg, show_progress=not args.no_progress)
    try:
        last = trainer.train()
        final = trainer.evaluate(cfg.eval.episodes) if cfg.eval.every or cfg.eval.at_start else {}
    except WorkerDied as err:
        print(f"error: {err} (the last checkpoint is in {cfg.run.output_dir}; run again to resume)", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    for k, v in sorted({**last, **final}.items()):
        if k.startswith(("reward/", "eval/", "rollout/invalid")):
            print(f"{k}={v:.4f}")
    print(f"run_dir={cfg.run.output_dir} steps={trainer.step}")
    return 0


class UsageError(Exception):
    """A command-line mistake; main prints it as 'error: ...' and exits 2."""


def at_least_one(text: str) -> int:
    """argparse type: an int >= 1 (--episodes, --samples)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> float:
    """argparse type: a float >= 0 (--temperature, --watch)."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def writable_json(path: str | None) -> None:
    """Fail before the work, not after it: --json must name a file in an existing folder."""
    if path and (os.path.isdir(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path)))):
        raise UsageError(f"--json {path}: not a file in an existing folder")


def known_games(games: list[str], options: dict) -> None:
    """Every --game is a registered game that takes --game-option (UsageError naming it)."""
    from sparring.environments import make

    for game in games:
        try:
            make(game, **options)
        except ValueError as e:  # an unknown game, or options it does not take
            raise UsageError(f"--game {game}: {e}") from None


def _game_options(pairs: list[str] | None) -> dict:
    import yaml

    options = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--game-option {pair!r}: expected KEY=VALUE, e.g. hands=3")
        try:
            options[key] = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise UsageError(f"--game-option {pair!r}: the value is not valid YAML ({e.problem})") from None
    return options


def load_model_arg(name: str):
    """(model, tokenizer) of a command-line model ('tiny', a directory or a hub id); UsageError
    naming the model when it cannot be loaded."""
    from sparring.agents.models import load_model, load_tokenizer, resolve
    from sparring.config import missing_model_dir

    path = resolve(name)
    if missing_model_dir(path):
        raise UsageError(f"model {name!r}: no such directory")
    try:
        return load_model(path), load_tokenizer(path)
    except (OSError, ValueError) as e:  # a missing directory reads as a malformed hub id to transformers
        raise UsageError(f"cannot load model {name!r}: {e}") from None


def model_policy(name: str, backend: str = "hf", max_batch_size: int = 256):
    """A frozen EnginePolicy of a model ('tiny', a directory or a hub id) on engine `backend`;
    sampling comes from the role."""
    from pydantic import ValidationError

    from sparring.agents.engines import make_engine
    from sparring.agents.policies import EnginePolicy
    from sparring.config import EngineConfig

    try:  # before the model loads: an unknown backend's message names the registered ones
        engine_cfg = EngineConfig(backend=backend, max_batch_size=max_batch_size)
    except ValidationError as e:
        raise UsageError(f"--engine {backend}: {e.errors()[0]['msg']}") from None
    model, tok = load_model_arg(name)
    return EnginePolicy(make_engine(engine_cfg, model, tok), trainable=False)


def cmd_eval(args) -> int:
    """Dispatch: --elo / --elo-from rank players; otherwise --model against every --opponent.
    (A further mode, e.g. --benchmark, adds one branch here and one function.)"""
    if args.temperature is None:  # exploitability scores the sampling policy; games are played greedily
        args.temperature = 1.0 if args.exploitability else 0.0
    _one_mode(args)
    writable_json(args.json)
    if args.benchmark:
        from sparring.evals.cli import cmd_benchmark

        return cmd_benchmark(args)
    if not args.game:
        raise UsageError("eval needs --game (or --benchmark humaneval|code_reasoning|cruxeval|math|mcq)")
    known_games([g for g in args.game if not args.exploitability], _game_options(args.game_option))
    if args.exploitability:
        from sparring.evals.exploitability_cli import cmd_exploitability

        args.game_options, args.prompt = _game_options(args.game_option), _prompt_config(args)
        return cmd_exploitability(args)
    if args.elo or args.elo_from:
        return _eval_elo(args)
    if not args.model:
        raise UsageError("eval needs --model (or --elo DIR ... / --elo-from RUN_DIR)")
    return _eval_games(args)


def _one_mode(args) -> None:
    """An option of another eval mode than the one run is an error naming it (it was ignored)."""
    mode = next(name for name, on in (("a benchmark (--benchmark)", args.benchmark),
                                      ("--exploitability", args.exploitability),
                                      ("an Elo ranking (--elo, --elo-from)", args.elo or args.elo_from),
                                      ("games against opponents", True)) if on)
    stray = [(dest, other) for other, dests in args.modes.items() if other != mode for dest in sorted(dests)
             if getattr(args, dest) != args.option_defaults[dest]]
    if args.benchmark and args.game:
        stray.insert(0, ("game", "games, Elo and --exploitability"))
    if stray:
        dest, other = stray[0]
        raise UsageError(f"--{dest.replace('_', '-')} applies to {other}, not to {mode}")


def _eval_games(args) -> int:
    from sparring.agents.opponents import build_opponent, not_applicable, opponent_config
    from sparring.agents.prompting import seat_roles_for
    from sparring.environments import make
    from sparring.training.evaluate import evaluate_async, format_table
    from sparring.types import SamplingParams

    options = _game_options(args.game_option)
    try:
        specs = [(spec, opponent_config(spec, args.api_key_env)) for spec in args.opponent or ["random"]]
    except ValueError as e:
        raise UsageError(str(e)) from None
    sampling = SamplingParams(max_new_tokens=game_max_new_tokens(args), temperature=args.temperature)
    prompt = _prompt_config(args)
    policy = model_policy(args.model, args.engine)
    frozen = {}  # checkpoint and endpoint opponents are built once and reused across games

    async def run():
        results, skipped = [], []
        for game in args.game:
            roles = seat_roles_for(prompt, game, make(game, **options).num_players, sampling,
                                   tokenizer=policy.engine.tokenizer)
            for spec, cfg in specs:
                reason = not_applicable(cfg.kind, game, options)
                if reason:
                    print(f"note: skipping --opponent {spec} on {game}: {reason}")
                    skipped.append({"game": game, "opponent": spec, "reason": reason})
                    continue
                if cfg.kind == "self":
                    opponent = policy
                elif cfg.kind in ("checkpoint", "openai"):
                    if spec not in frozen:
                        frozen[spec] = build_opponent(cfg, game=game, game_options=options, seed=args.seed)
                    opponent = frozen[spec]
                else:
                    opponent = build_opponent(cfg, game=game, game_options=options, seed=args.seed)
                results.append(await evaluate_async(policy, opponent, game, roles, args.episodes, options,
                                                    opponent_name=spec))
                errors = getattr(opponent, "errors", None)
                if errors:
                    print(f"note: {spec} on {game}: endpoint errors {dict(errors)} (counted as its invalid turns)")
        for opponent in [policy, *frozen.values()]:
            engine = getattr(opponent, "engine", None)
            if engine is not None:
                await engine.aclose()
        return results, skipped

    try:
        results, skipped = asyncio.run(run())
    except (ValueError, OSError) as e:  # an endpoint key that is not set, a missing checkpoint dir, ...
        raise UsageError(str(e)) from None
    if results:
        print(format_table(results))
    if args.json:
        report = {"model": args.model, "games": args.game, "game_options": options, "episodes_per_seat": args.episodes,
                  "temperature": args.temperature, "results": [r.to_json() for r in results], "skipped": skipped}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    for r in results:
        print(f"{r.game}_payoff_vs_{r.opponent.split(':')[0]}={r.mean_payoff:.4f}")
    return 0


def _elo_players(args) -> dict[str, str]:
    """name -> model directory, from --elo DIR ... or every checkpoint under --elo-from RUN_DIR."""
    from pathlib import Path

    dirs = list(args.elo or [])
    if args.elo_from:
        root = Path(args.elo_from) / "checkpoints"
        found = sorted(str(p) for p in root.glob("step_*") if (p / "config.json").exists())
        if not found:
            raise UsageError(f"--elo-from {args.elo_from}: no checkpoints under {root}")
        dirs += found
    players: dict[str, str] = {}
    for d in dirs:
        name = Path(d).name or d
        if name in players or name in ("random", "minimax"):  # two dirs with one name: use the paths
            name = d
        if name in players:
            raise UsageError(f"--elo: {d} is given twice")
        players[name] = d
    return players


def _eval_elo(args) -> int:
    from sparring.agents.opponents import build_opponent, not_applicable, opponent_config
    from sparring.agents.prompting import seat_roles_for
    from sparring.environments import make
    from sparring.training.elo import fit_elo
    from sparring.training.evaluate import format_elo_table, round_robin_async
    from sparring.types import SamplingParams

    options = _game_options(args.game_option)
    models = _elo_players(args)
    if args.model:
        models.setdefault(os.path.basename(args.model.rstrip('/')) or args.model, args.model)
    sampling = SamplingParams(max_new_tokens=game_max_new_tokens(args), temperature=args.temperature)
    prompt = _prompt_config(args)
    policies = {name: model_policy(path, args.engine) for name, path in models.items()}
    tokenizer = next((p.engine.tokenizer for p in policies.values()), None)  # the style resolves against the first
    if args.temperature == 0:
        print("note: greedy decoding (--temperature 0): in a game without chance every game of a pairing in "
              "one seat is the same game; use --temperature 1 for a spread of games")

    async def run():
        report = []
        for game in args.game:
            players = dict(policies)
            for anchor in args.anchor or []:
                reason = not_applicable(anchor, game, options)
                if reason:
                    print(f"note: anchor {anchor} skipped on {game}: {reason}")
                    continue
                players[anchor] = build_opponent(opponent_config(anchor), game=game, game_options=options, seed=args.seed)
            if len(players) < 2:
                raise UsageError(f"Elo on {game} needs at least two players, got {sorted(players)}")
            roles = seat_roles_for(prompt, game, make(game, **options).num_players, sampling, tokenizer=tokenizer)
            matches = await round_robin_async(players, game, roles, args.episodes, options)
            anchor = "random" if "random" in players else None
            fit = fit_elo([(m.a, m.b, m.score_a, m.games) for m in matches], anchor=anchor, prior_games=args.elo_prior)
            print(format_elo_table(game, fit, anchor))
            for name in fit.ranked():
                print(f"elo/{game}/{name}={fit.ratings[name]:.1f}")
            report.append({
                "game": game, "anchor": anchor or "mean", "games_per_seat": args.episodes, "prior_games": args.elo_prior,
                "ratings": [{"name": n, "rating": fit.ratings[n], "ci95": fit.ci95[n], "games": fit.games[n],
                             "score": fit.score[n], "path": models.get(n)} for n in fit.ranked()],
                "matches": [m.to_json() for m in matches],
            })
        for policy in policies.values():
            await policy.engine.aclose()
        return report

    try:
        report = asyncio.run(run())
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"elo": report, "temperature": args.temperature, "game_options": options}, f, indent=1)
    return 0


def cmd_play(args) -> int:
    from sparring.environments import make
    from sparring.play import play
    from sparring.types import SamplingParams

    options = _game_options(args.game_option)
    try:
        num_players = make(args.game, **options).num_players
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.two_humans:
        seats, policy = tuple(range(num_players)), None
    else:
        if not (args.checkpoint or args.model):
            raise UsageError("play needs --checkpoint DIR (or --model tiny|DIR), or --two-humans")
        if not 0 <= args.seat < num_players:
            raise UsageError(f"--seat {args.seat}: {args.game} has seats 0-{num_players - 1}")
        seats, policy = (args.seat,), model_policy(args.checkpoint or args.model, args.engine)
    sampling = SamplingParams(max_new_tokens=game_max_new_tokens(args), temperature=args.temperature)
    try:
        rewards = play(args.game, policy, seats, game_options=options, seed=args.seed, sampling=sampling,
                       prompt=_prompt_config(args))
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0 if rewards is not None else 1


GAME_MAX_NEW_TOKENS = 8


def game_max_new_tokens(args) -> int:
    """--max-new-tokens for a game (eval's default is None: each mode has its own)."""
    return GAME_MAX_NEW_TOKENS if args.max_new_tokens is None else args.max_new_tokens


def _prompt_flags(parser, answer_format: str | None = "bracket") -> None:
    """--answer-format and --prompt-style; `answer_format` None: the mode picks its default (games
    bracket, math/mcq boxed)."""
    from sparring.agents.answer_formats import FORMATS

    parser.add_argument("--answer-format", choices=sorted(FORMATS), default=answer_format,
                        help="where the model's answer is read (an arena's prompt.answer_format; default bracket; "
                             "math/mcq benchmarks: boxed)")
    parser.add_argument("--prompt-style", choices=["auto", "chat", "plain"], default="auto",
                        help="chat template or plain text prompt (prompt.style; default auto: chat when the "
                             "tokenizer has a chat template)")
    parser.add_argument("--restate", action="store_true",
                        help="the model's seats restate their private information before the answer (a model "
                             "trained with prompt.restate: true; games with a private note)")


def _prompt_config(args):
    """The `prompt:` settings given on the command line (the rest at their defaults)."""
    from sparring.agents.prompting import PromptConfig

    return PromptConfig(style=args.prompt_style, answer_format=args.answer_format or "bracket", restate=args.restate)


def _import_flag(parser, engine: bool = True) -> None:
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                        help="import a module that registers games, arena kinds, estimators or engines (repeatable)")
    if engine:
        parser.add_argument("--engine", default="hf", metavar="BACKEND",
                            help="inference engine backend for the model (from the engine registry; default hf)")


def cmd_report(args) -> int:
    from sparring.report import watch, write_report

    missing = [d for d in args.run_dirs if not os.path.isdir(d)]
    if missing:
        raise UsageError(f"report: {missing[0]} is not a run directory")
    if args.watch:
        print(f"writing {args.out} every {args.watch} s (Ctrl-C stops)")
        try:
            watch(args.run_dirs, args.out, args.watch)
        except KeyboardInterrupt:
            pass
        return 0
    print(f"report={write_report(args.run_dirs, args.out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sparring", description="multi-agent self-play RL for language models")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from a YAML config (resumes an existing run dir)")
    t.add_argument("config")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. run.steps=10")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (logs instead)")
    _import_flag(t, engine=False)  # train: engine.backend in the config
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("eval", help="evaluate a model against opponents in every seat, or rank models by Elo")
    _import_flag(e)
    e.add_argument("--model", help="'tiny', a checkpoint / model directory, or a hub id")
    e.add_argument("--game", action="append", help="game name (repeatable)")
    e.add_argument("--game-option", action="append", metavar="KEY=VALUE", help="game option for every game, e.g. hands=3")
    e.add_argument("--opponent", action="append", default=None,
                   help="random | self | minimax | kuhn_equilibrium | EXPERT+random:P (minimax or kuhn_equilibrium "
                        "playing a random move with probability P) | checkpoint:DIR | openai:MODEL@BASE_URL "
                        "(repeatable; default random); opponents that cannot play a game are skipped with a note")
    e.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable with the key for openai: opponents ('' for none)")
    e.add_argument("--episodes", type=at_least_one, default=1000, help="games per seat (per pairing with --elo)")
    e.add_argument("--temperature", type=non_negative, default=None,
                   help="0 = greedy (the default for games; --exploitability defaults to 1, the sampling policy)")
    e.add_argument("--max-new-tokens", type=int, default=None,
                   help=f"token budget of one answer (games: default {GAME_MAX_NEW_TOKENS}; math/mcq: 1024)")
    _prompt_flags(e, answer_format=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", help="write results to this JSON file")
    e.add_argument("--elo", nargs="+", metavar="DIR", help="rank these models by Elo in a round robin")
    e.add_argument("--elo-from", metavar="RUN_DIR", help="rank every checkpoint under RUN_DIR/checkpoints by Elo")
    e.add_argument("--anchor", action="append", choices=["random", "minimax"],
                   help="add a scripted player to the Elo round robin (random is then rated 1000; else the mean is)")
    e.add_argument("--elo-prior", type=float, default=1.0,
                   help="virtual drawn games per player against a reference (keeps ratings finite when a player "
                        "wins or loses every game); 0 = pure maximum likelihood")
    from sparring.evals.cli import add_benchmark_args
    from sparring.evals.exploitability_cli import add_exploitability_args

    shared = {a.dest for a in e._actions}  # noqa: SLF001 - which options each mode added
    add_benchmark_args(e)  # --benchmark humaneval|code_reasoning|cruxeval|math|mcq and its options
    benchmark = {a.dest for a in e._actions} - shared  # noqa: SLF001
    add_exploitability_args(e)  # --exploitability, --scripted, --cfr-iterations
    exploitability = {a.dest for a in e._actions} - shared - benchmark  # noqa: SLF001
    modes = {"a benchmark (--benchmark)": benchmark, "--exploitability": exploitability,
             "an Elo ranking (--elo, --elo-from)": {"elo", "elo_from", "anchor", "elo_prior"},
             "games against opponents": {"opponent", "api_key_env"}}
    e.set_defaults(fn=cmd_eval, modes=modes, option_defaults={a.dest: a.default for a in e._actions})  # noqa: SLF001
    pl = sub.add_parser("play", help="play a game in the terminal against a model (or two humans)")
    pl.add_argument("game")
    _import_flag(pl)
    pl.add_argument("--checkpoint", metavar="DIR", help="the model to play against (a checkpoint or model dir)")
    pl.add_argument("--model", help="'tiny' or a model directory / hub id (instead of --checkpoint)")
    pl.add_argument("--seat", type=int, default=0, help="your seat (0 moves first)")
    pl.add_argument("--two-humans", action="store_true", help="humans play every seat")
    pl.add_argument("--game-option", action="append", metavar="KEY=VALUE", help="game option, e.g. hands=3")
    pl.add_argument("--temperature", type=non_negative, default=0.0, help="the model's temperature (0 = greedy)")
    pl.add_argument("--max-new-tokens", type=int, default=8)
    _prompt_flags(pl)
    pl.add_argument("--seed", type=int, default=0, help="game seed (the deal)")
    pl.set_defaults(fn=cmd_play)
    r = sub.add_parser("report", help="one self-contained HTML report of one or more runs (overlaid)")
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    r.add_argument("--out", default="report.html", help="the HTML file to write")
    r.add_argument("--watch", type=non_negative, default=0, metavar="SECONDS",
                   help="rewrite the report every SECONDS while runs train (the page reloads itself)")
    _import_flag(r, engine=False)
    r.set_defaults(fn=cmd_report)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    from sparring.config import ConfigError
    from sparring.plugins import PluginError, import_modules, load_entry_points

    try:
        if args.command != "train":  # train imports them with the config's own `imports:`
            load_entry_points()
            import_modules(args.imports or [], "--import")
        return args.fn(args)
    except (ConfigError, UsageError, PluginError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
