"""`cmd_benchmark` driven directly with an argparse namespace: canonical harness checks, a
tiny-model run, option errors, and `add_benchmark_args` beside `sparring eval`'s options."""

from __future__ import annotations

import argparse
import json

import pytest

from sparring.evals.cli import add_benchmark_args, cmd_benchmark


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_benchmark_args(parser)
    args = parser.parse_args([])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_canonical_humaneval_prints_pass_at_1(capsys, tmp_path):
    out = tmp_path / "he.json"
    assert cmd_benchmark(_args(benchmark="humaneval", canonical=True, limit=10,
                               json=str(out))) == 0
    printed = capsys.readouterr().out
    assert "humaneval_pass@1=1.0000" in printed and "outcome: passed" in printed
    saved = json.loads(out.read_text())
    assert saved["problems"] == 10 and saved["pass_at"] == {"1": 1.0}
    assert saved["benchmark"] == "humaneval" and len(saved["results"]) == 10


def test_canonical_code_reasoning(capsys, tmp_path):
    assert cmd_benchmark(_args(benchmark="code_reasoning", canonical=True)) == 0
    printed = capsys.readouterr().out
    for name in ("code_reasoning_accuracy", "code_reasoning_deduction_accuracy",
                 "code_reasoning_abduction_accuracy"):
        assert f"{name}=1.0000" in printed


def test_tiny_model_code_reasoning(capsys, tiny_path, tmp_path):
    out = tmp_path / "cr.json"
    args = _args(benchmark="code_reasoning", model=tiny_path, limit=4, samples=2,
                 temperature=1.0, code_max_new_tokens=8, json=str(out))
    assert cmd_benchmark(args) == 0
    assert "code_reasoning_accuracy=" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["model"] == tiny_path and len(saved["results"]) == 8
    assert sum(sum(o.values()) for o in saved["outcomes"].values()) == 8


@pytest.mark.parametrize("overrides,message", [
    (dict(benchmark="humaneval", canonical=True, k=[1, 5], samples=2), "pass@5 needs --samples"),
    (dict(benchmark="humaneval"), "--model is required"),
    (dict(benchmark="humaneval", canonical=True, samples=0), "--samples"),
    (dict(benchmark="humaneval", canonical=True, limit=0), "--limit"),
    (dict(benchmark="humaneval", canonical=True, triplets="x.jsonl"), "--triplets applies"),
    (dict(benchmark="code_reasoning", canonical=True, triplets="/nonexistent.jsonl"),
     "nonexistent"),
    (dict(benchmark="mbpp", canonical=True), "--benchmark"),
])
def test_bad_options_exit_2_naming_the_option(capsys, overrides, message):
    assert cmd_benchmark(_args(**overrides)) == 2
    assert message in capsys.readouterr().err


def test_args_beside_existing_eval_options():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    add_benchmark_args(parser)  # no clash with the options already there
    args = parser.parse_args(["--model", "tiny", "--benchmark", "humaneval", "--samples", "10",
                              "--k", "1,5", "--k", "10", "--limit", "20"])
    assert (args.model, args.benchmark, args.samples, args.k, args.limit) == (
        "tiny", "humaneval", 10, [1, 5, 10], 20)
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "tiny", "--k", "0"])
