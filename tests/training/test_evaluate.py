"""Evaluation: Wilson intervals, outcomes, per-seat results against scripted opponents, round robins,
and `sparring eval` (games x opponents with skips, JSON, Elo) on the tiny model."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch

from sparring.agents import RandomPolicy, ScriptedPolicy, seat_roles
from sparring.agents.scripted import KuhnEquilibriumPolicy, MinimaxPolicy
from sparring.arenas import InvalidActionRule
from sparring.cli import main
from sparring.training.elo import fit_elo
from sparring.training.evaluate import evaluate_async, mean_ci, outcome, round_robin_async, wilson
from sparring.types import SamplingParams

TTT = seat_roles("tictactoe", 2, SamplingParams())
KUHN = seat_roles("kuhn_poker", 2, SamplingParams())


def first_legal(obs, legal):
    return f"[{legal[0]}]"


def test_wilson_interval_by_hand():
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = wilson(0, 10)  # z^2 / (n + z^2) at the edge, where the normal interval collapses to [0, 0]
    assert lo == 0.0 and hi == pytest.approx(1.96 ** 2 / (10 + 1.96 ** 2))
    assert wilson(10, 10) == (pytest.approx(1 - hi), 1.0)
    assert wilson(0, 0) == (0.0, 1.0)


def test_mean_ci_and_outcome():
    mean, ci = mean_ci([1.0, -1.0, 1.0, -1.0])
    assert mean == 0.0 and ci == pytest.approx(1.96 * (4 / 3) ** 0.5 / 2)
    assert outcome([1.0, -1.0], 0) == 1 and outcome([1.0, -1.0], 1) == -1 and outcome([0.0, 0.0], 1) == 0
    assert outcome([-1.0, 0.0], 1) == 1  # the opponent forfeited (penalty -1, the other 0): a win
    assert outcome([2.0, 2.0, -4.0], 0) == 0 and outcome([1.0, 3.0, -4.0], 0) == -1


def test_minimax_against_random_per_seat():
    r = asyncio.run(evaluate_async(MinimaxPolicy(seed=0), RandomPolicy(seed=1), "tictactoe", TTT, 100,
                                   opponent_name="random"))
    assert [s.games for s in r.seats] == [100, 100]
    for s in r.seats:
        assert s.loss == 0.0 and s.invalid == 0.0 and s.win + s.draw == pytest.approx(1.0)
        lo, hi = s.rate_ci95["win"]
        assert lo <= s.win <= hi and hi - lo < 0.3
        assert s.rate_ci95["loss"][0] == 0.0 and s.rate_ci95["loss"][1] > 0  # 0 of 100 still leaves doubt
    assert r.seats[0].win > r.seats[1].win  # moving first is an advantage
    assert r.mean_payoff == pytest.approx((r.seats[0].mean_payoff + r.seats[1].mean_payoff) / 2)
    assert json.loads(json.dumps(r.to_json()))["seats"][0]["rate_ci95"]["win"] == list(r.seats[0].rate_ci95["win"])


def test_invalid_answers_on_either_side_are_counted():
    garbage = ScriptedPolicy(lambda obs, legal: "no idea")
    rule = InvalidActionRule(penalty=-2.0, opponent_reward=0.0)
    mine = asyncio.run(evaluate_async(garbage, RandomPolicy(seed=0), "kuhn_poker", KUHN, 20, invalid=rule))
    assert mine.invalid == 1.0 and mine.loss == 1.0 and mine.mean_payoff == -2.0 and mine.opponent_invalid == 0.0
    theirs = asyncio.run(evaluate_async(RandomPolicy(seed=0), garbage, "kuhn_poker", KUHN, 20, invalid=rule))
    assert theirs.opponent_invalid == 1.0 and theirs.win == 1.0 and theirs.invalid == 0.0


def test_round_robin_orders_the_scripted_players():
    players = {"minimax": MinimaxPolicy(seed=0), "random": RandomPolicy(seed=1), "first": ScriptedPolicy(first_legal)}
    matches = asyncio.run(round_robin_async(players, "tictactoe", TTT, 30))
    assert [(m.a, m.b, m.games) for m in matches] == [("first", "minimax", 60), ("first", "random", 60),
                                                       ("minimax", "random", 60)]
    by_pair = {(m.a, m.b): m.score_a for m in matches}
    assert by_pair[("first", "minimax")] == 0.0  # minimax never loses, and it beats this fixed line
    fit = fit_elo([(m.a, m.b, m.score_a, m.games) for m in matches], anchor="random", prior_games=1.0)
    assert fit.ranked()[0] == "minimax" and fit.ratings["random"] == 1000.0
    with pytest.raises(ValueError, match="two players"):
        asyncio.run(round_robin_async({"x": RandomPolicy()}, "tictactoe", TTT, 1))


def test_kuhn_equilibrium_against_random_evaluates_positive():
    r = asyncio.run(evaluate_async(KuhnEquilibriumPolicy(seed=0), RandomPolicy(seed=1), "kuhn_poker", KUHN, 1000))
    assert r.mean_payoff - r.ci95 > 0


# ----- the CLI --------------------------------------------------------------------------------------
def test_cli_eval_games_by_opponents_with_skips(tiny_path, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = main(["eval", "--model", tiny_path, "--game", "tictactoe", "--game", "kuhn_poker", "--opponent", "random",
                 "--opponent", "minimax", "--opponent", "kuhn_equilibrium", "--opponent", "self", "--episodes", "4",
                 "--max-new-tokens", "4", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "skipping --opponent minimax on kuhn_poker" in printed and "perfect information" in printed
    assert "skipping --opponent kuhn_equilibrium on tictactoe" in printed
    report = json.loads(out.read_text())
    pairs = [(r["game"], r["opponent"]) for r in report["results"]]
    assert pairs == [("tictactoe", "random"), ("tictactoe", "minimax"), ("tictactoe", "self"),
                     ("kuhn_poker", "random"), ("kuhn_poker", "kuhn_equilibrium"), ("kuhn_poker", "self")]
    assert [(s["game"], s["opponent"]) for s in report["skipped"]] == [("tictactoe", "kuhn_equilibrium"),
                                                                       ("kuhn_poker", "minimax")]
    for r in report["results"]:
        assert [s["games"] for s in r["seats"]] == [4, 4]
        for s in r["seats"]:
            assert s["win"] + s["draw"] + s["loss"] == pytest.approx(1.0)
            assert set(s["rate_ci95"]) == {"win", "draw", "loss", "invalid", "opponent_invalid"}
    minimax = report["results"][1]
    assert all(s["win"] == 0.0 for s in minimax["seats"])  # an untrained model never beats minimax
    assert "tictactoe_payoff_vs_minimax=" in printed


def test_cli_eval_elo_with_anchors(tiny_path, tmp_path, capsys):
    from sparring.agents.models import load_model, load_tokenizer

    other = tmp_path / "run" / "checkpoints" / "step_0000002"
    model = load_model(tiny_path)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(other)
    load_tokenizer(tiny_path).save_pretrained(other)
    out = tmp_path / "elo.json"
    code = main(["eval", "--elo", tiny_path, "--elo-from", str(tmp_path / "run"), "--anchor", "random",
                 "--anchor", "minimax", "--game", "tictactoe", "--episodes", "3", "--temperature", "1",
                 "--max-new-tokens", "4", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())["elo"][0]
    names = [r["name"] for r in report["ratings"]]
    assert sorted(names) == sorted(["minimax", "random", "step_0000002", tiny_path.rstrip("/").split("/")[-1]])
    assert names[0] == "minimax"  # it never loses to anyone
    assert next(r["rating"] for r in report["ratings"] if r["name"] == "random") == 1000.0
    assert len(report["matches"]) == 6 and all(m["games"] == 6 for m in report["matches"])
    assert "Elo on tictactoe (random = 1000)" in printed and "elo/tictactoe/minimax=" in printed


@pytest.mark.parametrize("argv,message", [
    (["eval", "--game", "tictactoe"], "needs --model"),
    (["eval", "--model", "tiny", "--game", "tictactoe", "--opponent", "human"], "use random"),
    (["eval", "--elo-from", "/nonexistent/run", "--game", "tictactoe"], "no checkpoints"),
    (["eval", "--model", "tiny", "--game", "tictactoe", "--game-option", "oops"], "KEY=VALUE"),
    (["eval", "--model", "tiny", "--game", "tictactoe", "--opponent", "checkpoint:/nonexistent/x"], "not a directory"),
])
def test_cli_eval_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err


def test_cli_eval_against_an_endpoint(tiny_path, tmp_path, monkeypatch, capsys):
    from test_opponents import FakeServer  # the fake chat-completions server

    server = FakeServer()
    try:
        server.replies = [(500, b"overloaded", 0)] * 2  # then it answers the first legal action
        monkeypatch.setenv("SPARRING_TEST_KEY", "sk-cli")
        out = tmp_path / "eval.json"
        code = main(["eval", "--model", tiny_path, "--game", "kuhn_poker", "--opponent", f"openai:fake@{server.url}",
                     "--api-key-env", "SPARRING_TEST_KEY", "--episodes", "5", "--max-new-tokens", "4",
                     "--json", str(out)])
    finally:
        server.close()
    assert code == 0
    assert "endpoint errors {'http': 2}" in capsys.readouterr().out
    result = json.loads(out.read_text())["results"][0]
    assert result["opponent"] == f"openai:fake@{server.url}"
    # the two failed requests forfeited two of the 10 games (each ends the game it was made in)
    assert result["opponent_invalid"] == pytest.approx(2 / 10)
    assert {r["auth"] for r in server.requests} == {"Bearer sk-cli"}
    assert all(r["body"]["model"] == "fake" for r in server.requests)


def test_cli_eval_a_base_model_in_the_plain_style(tiny_path, tmp_path, capsys, monkeypatch):
    """A model whose tokenizer has no chat template loads; auto style prompts it in plain text,
    chat style is a usage error naming prompt.style; --answer-format reaches the roles."""
    from sparring.agents import prompting
    from sparring.agents.models import load_model, load_tokenizer

    built = []
    original = prompting.seat_roles_for
    monkeypatch.setattr(prompting, "seat_roles_for", lambda *a, **kw: built.extend(original(*a, **kw)) or built[-2:])

    base = tmp_path / "base"
    load_model(tiny_path).save_pretrained(base)
    tok = load_tokenizer(tiny_path)
    tok.chat_template = None
    tok.save_pretrained(base)
    argv = ["eval", "--model", str(base), "--game", "kuhn_poker", "--episodes", "2", "--max-new-tokens", "4"]
    assert main(argv + ["--prompt-style", "chat"]) == 2
    assert "prompt.style" in capsys.readouterr().err
    out = tmp_path / "eval.json"
    assert main(argv + ["--answer-format", "think", "--json", str(out)]) == 0
    assert len(json.loads(out.read_text())["results"]) == 1
    assert [(r.prompt_style, r.answer_format) for r in built] == [("plain", "think")] * 2
