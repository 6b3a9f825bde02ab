"""Self-play's average policy (NFSP): the reservoir keeps a uniform sample of the trained roles'
valid answers from start_step on and survives a resume; the fit reproduces the reservoir's answer
frequencies at the sampling temperature; the trainer saves and evaluates it at the end of a run."""

from __future__ import annotations

import math
import random

import pytest
import torch

from sparring.agents.models import load_model
from sparring.config import ConfigError, load_config
from sparring.training.average_policy import AveragePolicy, answer_nll
from sparring.types import Episode, Turn


def turn(prompt: list[int], answer: list[int], **kw) -> Turn:
    return Turn(role="p0", player=0, prompt_ids=prompt, completion_ids=answer, logprobs=[0.0] * len(answer),
                text="", **kw)


def episode(*turns: Turn) -> Episode:
    return Episode(arena="a", task="t", seed=0, turns=list(turns), rewards=[0.0], roles=["p0"])


def test_the_reservoir_keeps_valid_trained_answers_from_start_step_on():
    avg = AveragePolicy(capacity=10, start_step=2, seed=0)
    avg.observe([episode(turn([1], [2]))], step=1)  # before start_step
    avg.observe([episode(turn([1], [3]), turn([1], [4], invalid=True), turn([1], [5], trainable=False),
                         turn([1], [6], retried=True), turn([1], [7]))], step=2)
    assert avg.rows == [([1], [3]), ([1], [7])]
    assert avg.seen == 2


def test_the_reservoir_is_a_uniform_sample_of_everything_seen():
    """Algorithm R: with 1,000 answers and room for 200, each half of the stream keeps about 100
    (a keep-the-first or keep-the-last reservoir gives 200 / 0); over 40 reservoirs every answer
    is kept 8 times on average."""
    kept = [0] * 1000
    for seed in range(40):
        avg = AveragePolicy(capacity=200, start_step=0, seed=seed)
        for i in range(1000):
            avg.observe([episode(turn([1], [i]))], step=i)
        assert len(avg.rows) == 200 and avg.seen == 1000
        first_half = sum(1 for _, (a,) in avg.rows if a < 500)
        assert 70 <= first_half <= 130
        for _, (a,) in avg.rows:
            kept[a] += 1
    per_tenth = [sum(kept[i:i + 100]) for i in range(0, 1000, 100)]
    assert all(680 <= n <= 920 for n in per_tenth), per_tenth  # 800 expected per tenth of the stream


def test_the_reservoir_resumes_exactly():
    stream = [[episode(turn([s % 3], [s, s + 1]))] for s in range(300)]
    whole = AveragePolicy(capacity=50, start_step=10, seed=1)
    for step, eps in enumerate(stream):
        whole.observe(eps, step)
    first = AveragePolicy(capacity=50, start_step=10, seed=1)
    for step, eps in enumerate(stream[:120]):
        first.observe(eps, step)
    resumed = AveragePolicy(capacity=50, start_step=10, seed=1)
    resumed.load_state_dict(first.state_dict())
    for step, eps in enumerate(stream[120:], start=120):
        resumed.observe(eps, step)
    assert resumed.rows == whole.rows and resumed.seen == whole.seen == 290


def answer_probability(model, prompt, answer, temperature) -> float:
    with torch.no_grad():
        return math.exp(-answer_nll(model, [(prompt, answer)], temperature, 0).item() * len(answer))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_the_fit_reproduces_the_answer_frequencies_at_the_sampling_temperature(tiny_model, tokenizer, temperature):
    """Prompt A was answered `bet` 3 times in 4 and `check` once; prompt B half and half. Sampled
    at the run's temperature, the fitted copy answers with those frequencies; the model it was
    copied from is unchanged. (Fitted at T = 1 and read at T = 0.5, 3:1 would read as 0.9.)"""
    a = tokenizer.encode("Your card: K. Legal: [check] [bet]\n")
    b = tokenizer.encode("Your card: J. Legal: [check] [bet]\n")
    bet, check = tokenizer.encode("[bet]<|im_end|>"), tokenizer.encode("[check]<|im_end|>")
    avg = AveragePolicy(capacity=1000, start_step=0, seed=0)
    rows = [(a, bet)] * 3 + [(a, check)] + [(b, bet), (b, check)]
    rng = random.Random(0)
    for _ in range(40):
        for p, c in rng.sample(rows, len(rows)):
            avg.observe([episode(turn(p, c))], 0)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    fitted, stats = avg.distill(tiny_model, epochs=30, learning_rate=3e-3, batch_size=16, temperature=temperature,
                                pad_id=0, seed=0)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    p_bet_a, p_check_a = (answer_probability(fitted, a, x, temperature) for x in (bet, check))
    p_bet_b, p_check_b = (answer_probability(fitted, b, x, temperature) for x in (bet, check))
    assert p_bet_a + p_check_a > 0.95 and p_bet_b + p_check_b > 0.95
    assert abs(p_bet_a / (p_bet_a + p_check_a) - 0.75) < 0.06
    assert abs(p_bet_b / (p_bet_b + p_check_b) - 0.5) < 0.06
    assert stats["average/reservoir"] == 240 and stats["average/distill_updates"] == 450


def test_an_empty_reservoir_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="average_policy: the reservoir is empty"):
        AveragePolicy(10, 5, 0).distill(tiny_model, epochs=1, learning_rate=1e-3, batch_size=4, temperature=1.0,
                                        pad_id=0, seed=0)


def test_start_step_must_leave_answers_to_average():
    with pytest.raises(ConfigError, match=r"average_policy.start_step \(5\) must be below run.steps \(5\)"):
        load_config(data={"run": {"steps": 5}, "arenas": [{"name": "kuhn", "game": "kuhn_poker"}],
                          "average_policy": {"enabled": True, "start_step": 5}})


def test_a_run_saves_and_evaluates_its_average_and_refits_it_after_a_kill(tmp_path, small_spec_kw):
    """Three Kuhn steps against random play; the average is fitted from step 1 on, saved beside the
    checkpoints and evaluated like the last iterate (`average/eval/...`). A run killed after its last
    checkpoint but before the fit finds no average on restart and fits the same one again."""
    from safetensors.torch import load_file

    from sparring.training.metrics import read_metrics
    from sparring.training.trainer import Trainer

    cfg = load_config(data={
        "run": {"output_dir": str(tmp_path / "run"), "steps": 3, "seed": 2},
        "model": {"name": "tiny", "tiny": small_spec_kw},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 8, "opponent": {"kind": "random"}}],
        "sampling": {"max_new_tokens": 8}, "optim": {"learning_rate": 1e-3},
        "warm_start": {"enabled": True, "examples": 400, "epochs": 3, "learning_rate": 1e-2},  # valid answers
        "eval": {"episodes": 4, "exploitability": True}, "checkpoint": {"every": 1},
        "average_policy": {"enabled": True, "start_step": 1, "epochs": 1, "batch_size": 4}})
    trainer = Trainer(cfg, show_progress=False)
    try:
        trainer.train()
    finally:
        trainer.close()
    run = tmp_path / "run"
    last = read_metrics(run / "metrics.jsonl")[-1]
    assert last["step"] == 3
    assert 0 < last["average/reservoir"] == last["average/answers_seen"]  # steps 2 and 3: fewer than capacity
    assert 0 <= last["average/eval/kuhn/exploitability"] <= 1.5
    assert "average/eval/kuhn/vs_random/mean_payoff" in last
    first = load_file(str(run / "average" / "model.safetensors"))
    final = load_file(str(run / "checkpoints" / "step_0000003" / "model.safetensors"))
    assert any(not torch.equal(first[k], final[k]) for k in first)  # the fit moved the copy
    import shutil

    shutil.rmtree(run / "average")  # as if killed during the fit
    trainer = Trainer(cfg, show_progress=False)
    try:
        again = trainer.train()
        # What benchmarks measure the average with: its weights inside the block, the run's after.
        with trainer.using_weights(load_model(str(run / "average"))):
            inside = {k: v.clone() for k, v in trainer.learner.model.state_dict().items()}
        outside = trainer.learner.model.state_dict()
    finally:
        trainer.close()
    assert again["average/reservoir"] == last["average/reservoir"]
    refit = load_file(str(run / "average" / "model.safetensors"))
    assert all(torch.equal(first[k], refit[k]) for k in first)
    assert all(torch.equal(inside[k], refit[k]) for k in refit)
    assert all(torch.equal(outside[k], final[k]) for k in final)


def test_a_run_without_valid_answers_ends_without_an_average(tmp_path, small_spec_kw, caplog):
    """Untrusted output never costs the run: with nothing to average, the end of the run logs a
    warning and `average/reservoir` 0 instead of failing."""
    from sparring.training.trainer import Trainer

    cfg = load_config(data={
        "run": {"output_dir": str(tmp_path / "run"), "steps": 2}, "model": {"name": "tiny", "tiny": small_spec_kw},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 2, "opponent": {"kind": "random"}}],
        "average_policy": {"enabled": True, "start_step": 1}})
    trainer = Trainer(cfg, show_progress=False)
    try:
        assert trainer.average.rows == []
        assert trainer.finish_average() == {"average/reservoir": 0.0}
    finally:
        trainer.close()
    assert not (tmp_path / "run" / "average").exists()
    assert "no average policy fitted" in caplog.text
