"""benchmarks/tictactoe_tactics.py --samples: replaying logged games finds the win and block
positions and whether the trained turn took them."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tictactoe_tactics.py"


def load():
    spec = importlib.util.spec_from_file_location("tictactoe_tactics", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def game(step, episode, actions, advantages, trained=(True, True)):
    """Sample rows of one game; seat k's turns are trained iff trained[k]."""
    return [{"step": step, "arena": "ttt", "episode": episode, "turn": k, "role": f"tictactoe/p{k % 2}",
             "prompt": "", "completion": f"[{a}]", "action": a, "invalid": False, "trained": trained[k % 2],
             "reward": 0.0, "advantage": advantages[k] if trained[k % 2] else None}
            for k, a in enumerate(actions)]


def test_replay_classifies_taken_and_missed_tactics(tmp_path):
    tactics = load()
    # X: 0, 1 then must take 2 (O has 3, 4: after X's 1, O must block 2 - it plays 4, a miss).
    took = game(1, "g#1", ["0", "3", "1", "4", "2"], [0.1, 0.0, 0.2, -0.5, 0.9])
    # The same, but X misses the win at 2 (plays 8) and O then takes its own win at 5; untrained O.
    missed = game(2, "g#1", ["0", "3", "1", "4", "8", "5"], [0.1, 0.0, 0.2, 0.0, -0.7, 0.0], trained=(True, False))
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in took + missed))
    moves = tactics.replay_samples(path)
    assert (1, "block", False, -0.5) in moves      # O at move 4 had to block 2 and played 4
    assert (1, "win", True, 0.9) in moves          # X took the win at 2
    assert (2, "win", False, -0.7) in moves        # X had the win at 2 and played 8
    assert all(step != 2 or kind == "win" for step, kind, _, _ in moves)  # O untrained in game 2
    assert len(moves) == 3


def test_invalid_turns_do_not_move_the_board(tmp_path):
    tactics = load()
    rows = game(1, "g#1", ["0", "3", "1", "4"], [0.0] * 4)
    rows.insert(4, {**rows[3], "turn": 4, "role": "tictactoe/p0", "invalid": True, "action": None, "advantage": -2.0})
    rows.append({**rows[0], "turn": 5, "action": "2", "advantage": 1.0})
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (1, "win", True, 1.0) in tactics.replay_samples(path)
