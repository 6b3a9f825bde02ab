"""`sparring play`: the terminal loop with piped input (two humans, a scripted stand-in for the
model, the tiny model in-process on Kuhn Poker and through the CLI on TicTacToe)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from sparring.agents import ScriptedPolicy
from sparring.play import play


def run_play(game, policy, seats, moves: str, **kw):
    out = io.StringIO()
    rewards = play(game, policy, seats, stdin=io.StringIO(moves), stdout=out, **kw)
    return rewards, out.getvalue()


def test_two_humans_tictactoe_shows_the_board_and_the_result():
    rewards, out = run_play("tictactoe", None, (0, 1), "0\n3\n1\n4\n2\n")
    assert rewards == [1.0, -1.0]
    assert "You are X." in out and "You are O." in out  # each human sees their own observation
    assert "X|X|X\nO|O|5\n6|7|8" in out  # the final board
    assert out.rstrip().endswith("Result: P0 +1, P1 -1 (P0 wins)")


def test_illegal_input_reprompts_with_the_legal_moves():
    rewards, out = run_play("tictactoe", None, (0, 1), "9\nmiddle\n[4]\n4\n0\n8\n2\n6\n1\n7\n3\n5\n")
    assert "'9' is not a legal move; legal: 0 1 2 3 4 5 6 7 8" in out
    assert "'middle' is not a legal move" in out
    assert "'4' is not a legal move; legal: 0 1 2 3 5 6 7 8" in out  # taken by the bracketed [4]
    assert rewards == [-1.0, 1.0] and out.count("--- P") == 6  # O completed the top row


def test_end_of_input_or_quit_abandons_the_game():
    rewards, out = run_play("tictactoe", None, (0, 1), "4\n")
    assert rewards is None and "(end of input)" in out and "game abandoned" in out
    rewards, out = run_play("tictactoe", None, (0, 1), "4\nquit\n")
    assert rewards is None and "game abandoned" in out


def test_human_against_a_model_stand_in_on_kuhn():
    first = ScriptedPolicy(lambda obs, legal: f"[{legal[0]}]")  # always check / fold
    rewards, out = run_play("kuhn_poker", first, (0,), "bet\n", seed=3)
    assert "P0 (you) plays bet" in out and "P1 (model) plays fold" in out
    assert "Your card:" in out and rewards == [1.0, -1.0]
    assert out.rstrip().endswith("(P0 (you) wins)")


def test_a_reasoning_model_is_read_in_its_format_and_the_human_types_plain_moves():
    from sparring.agents.prompting import PromptConfig

    thinker = ScriptedPolicy(lambda obs, legal: f"<think>[{legal[-1]}]? no</think>\\boxed{{{legal[0]}}}")
    rewards, out = run_play("kuhn_poker", thinker, (0,), "bet\n", seed=3, prompt=PromptConfig(answer_format="think"))
    assert "P0 (you) plays bet" in out and "P1 (model) plays fold" in out and rewards == [1.0, -1.0]


def test_model_that_answers_nonsense_forfeits():
    nonsense = ScriptedPolicy(lambda obs, legal: "I like turtles")
    rewards, out = run_play("tictactoe", nonsense, (1,), "")
    assert rewards == [-1.0, 0.0]
    assert "P0 (model) answered 'I like turtles': not a legal action" in out and "forfeits" in out


def test_seats_are_checked():
    with pytest.raises(ValueError, match="seat 2"):
        run_play("tictactoe", None, (2,), "")
    with pytest.raises(ValueError, match="model policy"):
        run_play("tictactoe", None, (0,), "")


def test_tiny_model_plays_kuhn_in_process(tiny_path):
    from sparring.agents import EnginePolicy
    from sparring.agents.hf_engine import HFEngine
    from sparring.agents.models import load_model, load_tokenizer

    policy = EnginePolicy(HFEngine(load_model(tiny_path), load_tokenizer(tiny_path)), trainable=False)
    rewards, out = run_play("kuhn_poker", policy, (1,), "check\ncall\n" * 4, game_options={"hands": 2})
    assert rewards is not None and len(rewards) == 2  # finished, by play or by a forfeit
    assert "P0 (model)" in out and "Result:" in out


def test_cli_play_tictactoe_with_the_tiny_model_and_piped_stdin(tiny_path, subprocess_env):
    moves = "".join(f"{c}\n" for c in range(9))  # any free cell, in order: always enough
    proc = subprocess.run([sys.executable, "-m", "sparring.cli", "play", "tictactoe", "--checkpoint", tiny_path,
                           "--seat", "1"], input=moves, capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tictactoe: P0 (model), P1 (you)" in proc.stdout and "Result:" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "sparring.cli", "play", "tictactoe", "--seat", "1"], input="",
                         capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert bad.returncode == 2 and "needs --checkpoint" in bad.stderr
