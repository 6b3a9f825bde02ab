"""Fixed opponents for game arenas, built from an arena's `opponent` config.

The learner's seat is trainable; every other seat is played by one of these (never trained):
uniform random, a frozen checkpoint, ... `build_opponent` is the one place that maps an
`OpponentConfig` to a policy, used by the trainer and by `sparring eval`.

Opponents may implement these optional hooks, which the trainer calls:
  for_episode(seed) -> Policy     pick the policy for one game (a pool picks a past self)
  before_step(step)               e.g. resample which snapshots are loaded
  after_update(step, model)       e.g. snapshot the learner into the pool
  state_dict() / load_state_dict  resumable state (RNGs, pool membership)
"""

from __future__ import annotations

from sparring.agents.hf_engine import HFEngine
from sparring.agents.models import load_model, load_tokenizer
from sparring.agents.policies import EnginePolicy, RandomPolicy


def build_opponent(cfg, *, game: str, game_options: dict, seed: int, dtype: str = "float32",
                   max_batch_size: int = 256, run_dir=None):
    """The opponent policy for an arena's `OpponentConfig`; None for self-play."""
    if cfg.kind == "self":
        return None
    if cfg.kind == "random":
        return RandomPolicy(seed=seed)
    if cfg.kind == "checkpoint":
        frozen = load_model(cfg.path, dtype)
        return EnginePolicy(HFEngine(frozen, load_tokenizer(cfg.path), max_batch_size), trainable=False)
    raise ValueError(f"opponent.kind {cfg.kind!r} is not available")
