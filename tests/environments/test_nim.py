"""The Nim example (examples/nim.py): it registers, passes the checker, plays right, and trains.

The example lives outside the package, so it is loaded from its file under the module name
"nim" (as `import nim` would with examples/ on sys.path); a second load reuses the module, so
the game registers once however many tests load it.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from sparring.environments import IllegalAction, check, make, names

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nim.py"


def load_nim():
    if "nim" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nim", EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nim"] = module
        spec.loader.exec_module(module)
    return sys.modules["nim"]


nim = load_nim()


def play(*moves, piles="3 4 5"):
    g = make("nim", piles=piles)
    g.reset(seed=0)
    for m in moves:
        g.step(m)
    return g


def test_registered_and_small():
    assert "nim" in names() and isinstance(make("nim"), nim.Nim)
    assert len(EXAMPLE.read_text().splitlines()) <= 60


def test_checker_passes():
    assert check("nim") == 50
    assert check(make("nim", piles="1 1 2"), games=20) == 20


def test_legal_moves_and_observation():
    g = play("take 3 from 1")
    assert g.piles == [0, 4, 5] and g.current_player == 1
    assert g.legal_actions()[:2] == ["take 1 from 2", "take 2 from 2"] and len(g.legal_actions()) == 9
    obs = g.observation(1)
    assert "You are P1. pile 1: 0, pile 2: 4, pile 3: 5." in obs
    assert obs.endswith("Legal: " + " ".join(f"[{a}]" for a in g.legal_actions()))


@pytest.mark.parametrize("moves, returns", [
    (["take 3 from 1", "take 4 from 2", "take 5 from 3"], [1.0, -1.0]),       # P0 takes the last object
    (["take 3 from 1", "take 4 from 2", "take 4 from 3", "take 1 from 3"], [-1.0, 1.0]),
    (["take 2 from 1", "take 2 from 2", "take 5 from 3", "take 1 from 1", "take 2 from 2"], [1.0, -1.0]),
])
def test_whoever_takes_the_last_object_wins(moves, returns):
    g = play(*moves)
    assert g.done and g.returns() == returns and g.turn == len(moves)


def test_winning_reply_keeps_nim_sum_zero():
    # 3 ^ 4 ^ 5 = 2: taking 2 from pile 1 leaves 1 ^ 4 ^ 5 = 0, a lost position for the mover
    g = play("take 2 from 1")
    assert g.piles == [1, 4, 5] and 1 ^ 4 ^ 5 == 0
    # the longest game takes one object per move: 12 turns, the declared bound
    g = make("nim")
    g.reset(seed=0)
    while not g.done:
        g.step(g.legal_actions()[0])
    assert g.turn == g.max_turns == 12 and g.returns() == [-1.0, 1.0]  # P1 moved last


@pytest.mark.parametrize("bad", ["take 4 from 1", "take 0 from 1", "take 1 from 4", "take 1 from 0", "take 1", "1 1", ""])
def test_illegal_moves(bad):
    g = play()
    with pytest.raises(IllegalAction):
        g.step(bad)
    assert g.piles == [3, 4, 5] and g.turn == 0


@pytest.mark.parametrize("piles", ["", "3 0 2", "a b", "-1"])
def test_bad_piles(piles):
    with pytest.raises(ValueError):
        make("nim", piles=piles)


@pytest.mark.slow  # ~10 s on 2 cores, most of it TRL's fixed cost of the warm start
def test_short_training_run(tmp_path, tiny_path, small_spec_kw):
    """Nim trains end to end: warm start, 2 RL steps against the random opponent, a checkpoint."""
    from sparring.config import load_config
    from sparring.training import checkpoint
    from sparring.training.metrics import read_metrics
    from sparring.training.trainer import Trainer

    run_dir = tmp_path / "run"
    cfg = load_config(data={
        "run": {"name": "nim", "output_dir": str(run_dir), "seed": 0, "steps": 2},
        "model": {"name": "tiny", "tiny": small_spec_kw},
        "sampling": {"max_new_tokens": 8, "temperature": 1.0},
        "arenas": [{"name": "nim", "game": "nim", "game_options": {"piles": "1 2 3"}, "episodes_per_step": 8,
                    "opponent": {"kind": "random"}}],
        "warm_start": {"enabled": True, "examples": 32, "epochs": 1, "batch_size": 16},
        "optim": {"learning_rate": 1e-3, "micro_batch_size": 16},
        "eval": {"every": 0},
        "checkpoint": {"every": 1, "keep": 1},
    })
    trainer = Trainer(cfg, show_progress=False)
    try:
        trainer.train()
    finally:
        trainer.close()
    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == [0, 1, 2]  # warm-start stats at step 0, then the RL steps
    assert math.isfinite(records[0]["warm_start/loss"]) and records[0]["warm_start/examples"] == 32
    for r in records[1:]:
        assert math.isfinite(r["loss/total"]) and math.isfinite(r["loss/grad_norm"])
        assert any(k.startswith("reward/nim") for k in r)
    assert checkpoint.latest(run_dir).name == "step_0000002"


def test_readme_shows_the_example_verbatim():
    """The README's "Adding a game" code is examples/nim.py from its first import on."""
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    source = EXAMPLE.read_text()
    assert source[source.index("from sparring.environments import"):] in readme
