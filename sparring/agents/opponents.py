"""Fixed opponents for game arenas, built from an arena's `opponent` config.

The learner's seat is trainable; every other seat is played by one of these (never trained):
uniform random, minimax, Kuhn Poker's equilibrium, a frozen checkpoint, a pool of the learner's
past selves, or an OpenAI-compatible endpoint. `build_opponent` is the one place that maps an
`OpponentConfig` to a policy, used by the trainer and by `sparring eval`; `opponent_config`
turns an `--opponent` spec from the command line into that config.

Opponents may implement these optional hooks, which the game arena calls (it forwards its own
arena hooks to its opponent):
  for_episode(seed) -> Policy     pick the policy for one game (a pool picks a past self)
  before_step(step)               e.g. resample which snapshots are loaded
  after_update(step, model)       e.g. snapshot the learner into the pool
  state_dict() / load_state_dict  resumable state (RNGs, pool membership)
  aclose()                        release engines
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
from pathlib import Path

from sparring.agents.engines import make_engine
from sparring.agents.hf_engine import _unwrap
from sparring.agents.models import load_model, load_tokenizer
from sparring.agents.policies import EnginePolicy, RandomPolicy
from sparring.agents.scripted import KuhnEquilibriumPolicy, MinimaxPolicy, UnsupportedGame

log = logging.getLogger(__name__)

SCRIPTED_KINDS = ("random", "minimax", "kuhn_equilibrium")


def build_opponent(cfg, *, game: str, game_options: dict, seed: int, dtype: str = "float32",
                   device: str = "cpu", engine=None, run_dir=None, initial_model=None, tokenizer=None):
    """The opponent policy for an arena's `OpponentConfig`; None for self-play. Model opponents
    are served by the run's engine backend (`engine`: an EngineConfig; None: the default).

    `run_dir` (where a pool keeps its snapshots), `initial_model` (the learner's model before the
    first update) and `tokenizer` are needed by kind 'pool' only. An opponent that cannot play
    the game (minimax on a game with hidden information, ...) raises UnsupportedGame, a
    ValueError whose message says why.
    """
    if cfg.kind == "self":
        return None
    reason = not_applicable(cfg.kind, game, game_options)
    if reason:
        raise UnsupportedGame(reason)
    if cfg.kind == "random":
        return RandomPolicy(seed=seed)
    if cfg.kind == "minimax":
        return _blundering(_minimax(game, game_options, seed), cfg.random_move_rate, seed)
    if cfg.kind == "kuhn_equilibrium":
        return _blundering(KuhnEquilibriumPolicy(seed=seed), cfg.random_move_rate, seed)
    if cfg.kind == "checkpoint":
        frozen = load_model(cfg.path, dtype, device=device)
        policy = EnginePolicy(make_engine(engine, frozen, load_tokenizer(cfg.path)), trainable=False)
        policy.name = f"checkpoint:{cfg.path}"
        return policy
    if cfg.kind == "pool":
        if initial_model is None or tokenizer is None or run_dir is None:
            raise ValueError("opponent kind 'pool' needs run_dir=, initial_model= (the learner's model) and "
                             "tokenizer= passed to build_opponent")
        return PoolOpponent(initial_model, tokenizer, cfg.pool, run_dir, seed=seed, dtype=dtype, device=device,
                            engine=engine)
    if cfg.kind == "openai":
        from sparring.agents.http_policy import OpenAIChatPolicy

        return OpenAIChatPolicy.from_config(cfg.endpoint)
    raise ValueError(f"opponent.kind {cfg.kind!r} is not available")


def not_applicable(kind: str, game: str, game_options: dict | None = None) -> str | None:
    """Why an opponent kind cannot play `game`, or None when it can."""
    if kind == "kuhn_equilibrium" and game != "kuhn_poker":
        return f"kuhn_equilibrium plays kuhn_poker only, not {game!r}"
    if kind == "minimax":
        try:
            _minimax(game, game_options or {}, 0)
        except UnsupportedGame as e:
            return str(e)
    return None


_solved: dict[tuple, MinimaxPolicy | UnsupportedGame] = {}


def _minimax(game: str, game_options: dict, seed: int) -> MinimaxPolicy:
    """A minimax player whose table is already solved from the game's start (solved, or refused,
    once per game and options in this process; refusals raise here, before any game is played)."""
    key = (game, repr(sorted(game_options.items())))
    if key not in _solved:
        from sparring.environments import make

        solver = MinimaxPolicy()
        start = make(game, **game_options)
        start.reset(seed=0)
        try:
            solver.solve(start)
            _solved[key] = solver
        except UnsupportedGame as e:
            _solved[key] = e
    solved = _solved[key]
    if isinstance(solved, UnsupportedGame):
        raise type(solved)(str(solved))
    policy = MinimaxPolicy(seed=seed)
    policy._values = solved._values  # the table is a pure function of the rules
    return policy


def _blundering(expert, rate: float, seed: int):
    return RandomMoves(expert, rate, seed) if rate else expert


class RandomMoves:
    """A scripted expert that plays a uniformly random legal move with probability `rate`
    (`opponent.random_move_rate`), its own move otherwise. It wraps the scripted experts, whose
    only optional hooks are state_dict / load_state_dict; it forwards those."""

    trainable = False

    def __init__(self, expert, rate: float, seed: int = 0) -> None:
        self.expert = expert
        self.rate = rate
        # Streams keyed by name: plain seed + k would be the seed of the next arena's opponent.
        self.random = RandomPolicy(seed=random.Random(f"random_moves/moves/{seed}").getrandbits(32))
        self.rng = random.Random(f"random_moves/coin/{seed}")
        self.name = f"{expert.name}+random:{rate:g}"

    async def act(self, role, player: int, observation: str, legal, state=None):
        chosen = self.random if self.rng.random() < self.rate else self.expert
        return await chosen.act(role, player, observation, legal, state)

    def action_probs(self, state, player: int) -> dict[str, float]:
        """The mixture it plays, for an expert that states its distribution (kuhn_equilibrium):
        (1 - rate) x the expert's + rate x uniform over the same legal actions. The exploitability
        evaluator scores an opponent of graded strength through this."""
        expert = self.expert.action_probs(state, player)
        return {a: (1 - self.rate) * p + self.rate / len(expert) for a, p in expert.items()}

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "random": self.random.state_dict(), "expert": self.expert.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "expert" not in state:  # saved by the bare expert (random_move_rate was 0): its state only
            self.expert.load_state_dict(state)
            return
        self.rng.setstate(state["rng"])
        self.random.load_state_dict(state["random"])
        self.expert.load_state_dict(state["expert"])


_BLUNDERING_SPEC = re.compile(r"(minimax|kuhn_equilibrium)\+random:([0-9]*\.?[0-9]+)")


def opponent_config(spec: str, api_key_env: str | None = "OPENAI_API_KEY"):
    """An `OpponentConfig` from a command-line spec: random | self | minimax | kuhn_equilibrium |
    EXPERT+random:P (minimax or kuhn_equilibrium with `random_move_rate` P, the name such an
    opponent reports) | checkpoint:DIR | openai:MODEL@BASE_URL (key from the environment variable
    `api_key_env`)."""
    from sparring.config import EndpointConfig, OpponentConfig

    if spec in ("random", "self", "minimax", "kuhn_equilibrium"):
        return OpponentConfig(kind=spec)
    blundering = _BLUNDERING_SPEC.fullmatch(spec)
    if blundering:
        rate = float(blundering.group(2))
        if rate > 1.0:
            raise ValueError(f"opponent {spec!r}: the random-move rate must be in [0, 1]")
        return OpponentConfig(kind=blundering.group(1), random_move_rate=rate)
    if spec.startswith("checkpoint:") and spec != "checkpoint:":
        path = spec.split(":", 1)[1]
        if not os.path.isdir(os.path.expanduser(path)):
            raise ValueError(f"opponent {spec!r}: {path} is not a directory")
        return OpponentConfig(kind="checkpoint", path=path)
    match = re.fullmatch(r"openai:([^@]+)@(https?://\S+)", spec)
    if match:
        endpoint = EndpointConfig(model=match.group(1), base_url=match.group(2), api_key_env=api_key_env)
        return OpponentConfig(kind="openai", endpoint=endpoint)
    raise ValueError(f"opponent {spec!r}: use random, self, minimax, kuhn_equilibrium, minimax+random:P, "
                     "kuhn_equilibrium+random:P, checkpoint:DIR or openai:MODEL@BASE_URL "
                     "(e.g. openai:gpt-4o-mini@https://api.openai.com/v1)")


class PoolOpponent:
    """Fictitious self-play: the opponent of each game is one of the learner's past selves.

    The pool holds up to `size` snapshots, the initial model always first, saved under `run_dir`
    as `step_NNNNNNN/` (HF format with tokenizer; written to a temp dir and renamed), so a
    resumed run finds them. `after_update` adds the learner every `snapshot_every` steps and
    evicts the oldest non-initial snapshot beyond `size`; `before_step` samples `active`
    snapshots uniformly (seeded; without replacement while there are enough) into `active`
    frozen engines, which are reused (`load_weights`); `for_episode(seed)` plays engine
    `seed % active`. LoRA/PEFT learners are snapshotted with the adapters merged into the weights.

    Disk and resume: an evicted snapshot stays on disk until the checkpoint after the next one
    (`state_dict` is called once per checkpoint), so the pool of every complete checkpoint is on
    disk; `load_state_dict` restores membership, rng and loaded snapshots and deletes snapshot
    directories the checkpoint does not know (evicted ones, or ones from after it).
    """

    trainable = False
    name = "pool"

    def __init__(self, initial_model, tokenizer, cfg, run_dir, seed: int = 0, dtype: str = "float32",
                 device: str = "cpu", engine=None) -> None:
        self.cfg = cfg
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tokenizer = tokenizer
        self.dtype = dtype
        self.device = device
        self.rng = random.Random(seed)
        self.initial = _snapshot_name(0)
        fresh = not (self.dir / self.initial / "config.json").exists()
        if fresh:
            self._write(self.initial, initial_model)
        others = sorted(p.name for p in self.dir.glob("step_*") if (p / "config.json").exists() and p.name != self.initial)
        self.members = [self.initial] + (others[-(cfg.size - 1):] if cfg.size > 1 else [])
        self._evicted: list[str] = []  # evicted since the last state_dict
        self._doomed: list[str] = []  # evicted before the last state_dict: deleted at the next
        # Each engine serves its own frozen copy, starting from the initial snapshot on disk (on a
        # resumed run `initial_model` is the resumed learner, not the initial model).
        self.engines = [make_engine(engine, load_model(str(self.dir / self.initial), dtype, device=device), tokenizer)
                        for _ in range(cfg.active)]
        self.policies = [EnginePolicy(e, trainable=False) for e in self.engines]
        self._mark([self.initial] * cfg.active)

    # ----- hooks the trainer calls --------------------------------------------------------
    def for_episode(self, seed: int) -> EnginePolicy:
        return self.policies[seed % len(self.policies)]

    def before_step(self, step: int) -> None:
        k = len(self.engines)
        picks = self.rng.sample(self.members, min(k, len(self.members)))
        picks += self.rng.choices(self.members, k=k - len(picks))
        self._load(picks)

    def after_update(self, step: int, model) -> None:
        if step % self.cfg.snapshot_every or self.cfg.size == 1:
            return
        name = _snapshot_name(step)
        self._write(name, model)
        if name not in self.members:
            self.members.append(name)
        while len(self.members) > self.cfg.size:
            self._evicted.append(self.members.pop(1))  # the oldest after the initial model

    def state_dict(self) -> dict:
        for name in self._doomed:
            if name not in self.members:
                shutil.rmtree(self.dir / name, ignore_errors=True)
        self._doomed, self._evicted = self._evicted, []
        return {"members": list(self.members), "loaded": list(self.loaded), "rng": self.rng.getstate(),
                "doomed": list(self._doomed)}

    def load_state_dict(self, state: dict) -> None:
        missing = [m for m in state["members"] if not (self.dir / m / "config.json").exists()]
        if missing:
            log.warning("pool %s: snapshots %s are missing on disk; continuing without them", self.dir, missing)
        self.members = [m for m in state["members"] if m not in missing]
        if self.initial not in self.members:
            self.members.insert(0, self.initial)
        self.rng.setstate(state["rng"])
        for path in self.dir.iterdir():
            if path.name not in self.members and path.name.startswith(("step_", ".tmp_")):
                shutil.rmtree(path, ignore_errors=True)
        self._evicted, self._doomed = [], []
        loaded = [m if m in self.members else self.initial for m in state["loaded"]]
        self._load(loaded[: len(self.engines)] + [self.initial] * (len(self.engines) - len(loaded)))

    async def aclose(self) -> None:
        for engine in self.engines:
            await engine.aclose()

    # ----- snapshots ----------------------------------------------------------------------
    def _write(self, name: str, model) -> None:
        tmp, final = self.dir / f".tmp_{name}", self.dir / name
        shutil.rmtree(tmp, ignore_errors=True)
        _unwrap(model).save_pretrained(tmp)  # PEFT: a merged copy
        self.tokenizer.save_pretrained(tmp)
        if final.exists():  # the same step again after a resume
            shutil.rmtree(final)
        os.replace(tmp, final)

    def _load(self, names: list[str]) -> None:
        cache = {}
        for engine, current, name in zip(self.engines, self.loaded, names):
            if current != name:
                if name not in cache:
                    cache[name] = load_model(str(self.dir / name), self.dtype, device=self.device)
                engine.load_weights(cache[name])
        self._mark(names)

    def _mark(self, names: list[str]) -> None:
        self.loaded = list(names)
        for policy, name in zip(self.policies, names):
            policy.name = f"pool:step_{int(name.split('_')[1])}"


def _snapshot_name(step: int) -> str:
    return f"step_{step:07d}"
