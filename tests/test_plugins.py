"""User code plugs in without editing sparring: a package written to a temporary directory (outside
the repo) with a game, an arena kind with two roles and an estimator trains through `sparring
train` with `imports:`, with `--import`, and through a `sparring.plugins` entry point; failures
name the module and the cause, and duplicate registrations name both places."""

from __future__ import annotations

import json
import subprocess
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SMALL = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 128}

COUNTDOWN = '''
from sparring.environments import Game, register


@register("countdown")
class Countdown(Game):
    """Take 1 or 2 from a pile of 5; whoever takes the last one wins."""
    name = "countdown"
    num_players = 2
    zero_sum = True
    max_turns = 5

    def setup(self):
        self.pile = 5

    def to_move(self):
        return self.turn % 2

    def legal_actions(self):
        return [str(k) for k in (1, 2) if k <= self.pile]

    def apply(self, action):
        self.pile -= int(action)

    def observation(self, player):
        return f"Countdown: {self.pile} left. You are P{player}. Legal: " + " ".join(f"[{a}]" for a in self.legal_actions())

    def outcome(self):
        if self.pile:
            return None
        return [1.0, -1.0] if self.to_move() == 1 else [-1.0, 1.0]
'''

LOGGED_ESTIMATOR = '''
import os

from sparring.training.advantages import register_estimator


@register_estimator("logged_mean")
def logged_mean(rewards, keys):
    """Reward minus the batch mean; each call appends the batch size to $USERPKG_LOG."""
    with open(os.environ["USERPKG_LOG"], "a") as f:
        f.write(f"{len(rewards)}\\n")
    return rewards - rewards.mean()
'''


@pytest.fixture(scope="module")
def user_package(tmp_path_factory) -> Path:
    """`userpkg` (games, arena, estimators) in a temporary folder; the arena is examples/arithmetic_arena.py."""
    root = tmp_path_factory.mktemp("user_code")
    pkg = root / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "games.py").write_text(COUNTDOWN)
    (pkg / "arena.py").write_text((REPO / "examples" / "arithmetic_arena.py").read_text())
    (pkg / "estimators.py").write_text(LOGGED_ESTIMATOR)
    assert not root.is_relative_to(REPO)
    return root


def config(root: Path, name: str, arena: dict, **extra) -> Path:
    data = {"run": {"output_dir": str(root / "runs" / name), "steps": 2},
            "model": {"name": "tiny", "tiny": SMALL}, "sampling": {"max_new_tokens": 6},
            "arenas": [arena], "optim": {"micro_batch_size": 64}, "checkpoint": {"every": 1}, **extra}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def train(path: Path, env: dict, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparring.cli", "train", str(path), "--no-progress", *flags],
                          capture_output=True, text=True, env=env, cwd=path.parent, timeout=600)


def metrics(root: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (root / "runs" / name / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def env(subprocess_env, user_package, tmp_path) -> dict:
    out = dict(subprocess_env)
    out["USERPKG_LOG"] = str(tmp_path / "estimator.log")
    return out


def test_user_game_and_estimator_train_with_imports(user_package, env):
    path = config(user_package, "game_imports", {"name": "cd", "game": "countdown", "episodes_per_step": 8},
                  imports=["userpkg.games", "userpkg.estimators"], advantages={"estimator": "logged_mean"})
    proc = train(path, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metrics(user_package, "game_imports")
    assert [r["step"] for r in rows] == [1, 2]
    assert {"reward/cd/countdown/p0", "reward/cd/countdown/p1"} <= set(rows[-1])
    calls = Path(env["USERPKG_LOG"]).read_text().split()
    assert len(calls) == 2 and all(int(n) >= 8 for n in calls)  # one call per step, every trajectory


def test_user_game_and_estimator_train_with_the_import_flag(user_package, env):
    path = config(user_package, "game_flag", {"name": "cd", "game": "countdown", "episodes_per_step": 8},
                  advantages={"estimator": "logged_mean"})
    without = train(path, env)
    assert without.returncode == 2  # both named, with the remedy
    assert "unknown game 'countdown'" in without.stderr and "a game from your own package needs `imports:" in without.stderr
    assert "logged_mean" in without.stderr and "an estimator from your own package needs `imports:" in without.stderr
    proc = train(path, env, "--import", "userpkg.games", "--import", "userpkg.estimators")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in metrics(user_package, "game_flag")] == [1, 2]
    assert len(Path(env["USERPKG_LOG"]).read_text().split()) == 2


def test_user_arena_kind_with_two_roles_trains(user_package, env):
    arena = {"kind": "arithmetic", "name": "arith", "episodes_per_step": 6, "samples": 2}
    path = config(user_package, "arena", arena, imports=["userpkg.arena"], advantages={"estimator": "grpo"})
    proc = train(path, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metrics(user_package, "arena")
    assert [r["step"] for r in rows] == [1, 2]
    assert "arithmetic/arith/valid_problems" in rows[-1] and "reward/arith/arithmetic/setter" in rows[-1]
    saved = yaml.safe_load((user_package / "runs" / "arena" / "config.yaml").read_text())
    assert saved["arenas"][0]["samples"] == 2 and saved["imports"] == ["userpkg.arena"]  # the kind's own fields


def test_a_plugin_entry_point_registers_without_imports(user_package, env, tmp_path):
    dist = tmp_path / "userpkg_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: userpkg-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[sparring.plugins]\ncountdown = userpkg.games\n")
    env = dict(env, PYTHONPATH=f"{tmp_path}:{user_package}")
    path = config(user_package, "entry_point", {"name": "cd", "game": "countdown", "episodes_per_step": 4},
                  run={"output_dir": str(user_package / "runs" / "entry_point"), "steps": 1})
    proc = train(path, env)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_an_import_that_fails_names_the_module_and_the_cause(user_package, env):
    (user_package / "broken.py").write_text("import math\nraise RuntimeError('no such thing')\n")
    path = config(user_package, "broken", {"name": "cd", "game": "countdown"}, imports=["broken"])
    proc = train(path, env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot import module 'broken'" in proc.stderr and "RuntimeError: no such thing" in proc.stderr
    assert "broken.py:2" in proc.stderr
    proc = train(path, env, "--set", "imports=[no_such_module_xyz]")
    assert "'no_such_module_xyz'" in proc.stderr and "ModuleNotFoundError" in proc.stderr


@pytest.mark.parametrize("source, error", [
    ("x = 1\ndef f(:\n", "SyntaxError"),  # was "at <frozen importlib._bootstrap>:241"
    ("import json\njson.loads('{bad')\n", "JSONDecodeError"),  # was "at .../json/decoder.py:353"
])
def test_an_import_error_points_at_the_users_line(tmp_path, source, error):
    from sparring.plugins import PluginError, import_modules

    module = f"user_mod_{error.lower()}"
    (tmp_path / f"{module}.py").write_text(source)
    with pytest.raises(PluginError, match=rf"{error}.* at {re.escape(str(tmp_path / module))}\.py:2$"):
        import_modules([module], "imports", [tmp_path])


def test_duplicate_registrations_name_both_places(user_package):
    sys.path.insert(0, str(user_package))
    try:
        from sparring.arenas import GameArena, register_arena
        from sparring.environments import Game, register
        from sparring.training.advantages import register_estimator

        with pytest.raises(ValueError, match=r"game 'kuhn_poker' is already registered by "
                                             r"sparring\.environments\.kuhn_poker\.KuhnPoker \(.*kuhn_poker\.py:\d+\)"):
            register("kuhn_poker")(type("Impostor", (Game,), {}))
        with pytest.raises(ValueError, match=r"arena kind 'game' is already registered by .*GameArena.*cannot register"):
            register_arena("game")(type("MyArena", (GameArena,), {}))
        with pytest.raises(ValueError, match=r"advantage estimator 'grpo' is already registered by .*advantages\.grpo"):
            register_estimator("grpo")(lambda rewards: rewards)
    finally:
        sys.path.remove(str(user_package))
