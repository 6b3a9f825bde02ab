"""The openai engine backend against a local stand-in server (openai_stub.py) serving the tiny
model: outputs equal the HF engine's, concurrency, failures as counted invalid turns, missing
fields, weight sync, options, and a short training run through the server."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
import torch
from openai_stub import OpenAIStub

from sparring.agents import EnginePolicy, Role
from sparring.agents.engines import make_engine
from sparring.agents.hf_engine import HFEngine
from sparring.agents.models import load_model
from sparring.agents.openai_engine import MissingFieldError
from sparring.config import ConfigError, EngineConfig, load_config
from sparring.training import batching
from sparring.types import Sample, SamplingParams

GREEDY = SamplingParams(max_new_tokens=6, temperature=0.0)
ROLE = Role("kuhn_poker/p0")


@pytest.fixture
def stub(tiny_path, tokenizer):
    server = OpenAIStub(load_model(tiny_path), tokenizer)
    yield server
    server.close()


@pytest.fixture
def connect(stub, tokenizer):
    """connect(learner, server=stub, **options) -> an openai engine (closed after the test)."""
    engines = []

    def connect(learner, server=None, **options):
        options = {"base_url": (server or stub).url, "model": "tiny", "retry_backoff_s": 0.0, **options}
        engine = make_engine(EngineConfig(backend="openai", options=options), learner, tokenizer)
        engines.append(engine)
        return engine

    yield connect
    for engine in engines:
        asyncio.run(engine.aclose())


def generate_all(engine, prompts, sampling):
    async def go():
        return await asyncio.gather(*[engine.generate(p, sampling) for p in prompts])

    return asyncio.run(go())


def assert_same_generations(got, want):
    assert [g.prompt_ids for g in got] == [w.prompt_ids for w in want]
    assert [g.completion_ids for g in got] == [w.completion_ids for w in want]
    assert [(g.text, g.finish_reason) for g in got] == [(w.text, w.finish_reason) for w in want]
    for g, w in zip(got, want):
        torch.testing.assert_close(torch.tensor(g.logprobs), torch.tensor(w.logprobs), atol=1e-4, rtol=0)


# ----- what comes back ---------------------------------------------------------------------------
def test_greedy_completions_and_logprobs_equal_the_hf_engine(stub, connect, tiny_model, tokenizer, kuhn_prompts,
                                                             monkeypatch):
    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-test-1")
    engine = connect(tiny_model, api_key_env="SPARRING_TEST_KEY")
    got = generate_all(engine, kuhn_prompts, GREEDY)
    assert_same_generations(got, HFEngine(tiny_model, tokenizer).generate_batch(kuhn_prompts, GREEDY))
    assert all(g.completion_ids for g in got)
    bodies = [r["body"] for r in stub.requests]
    assert sorted(b["prompt"] for b in bodies) == sorted(kuhn_prompts)  # token ids, not text
    assert {r["auth"] for r in stub.requests} == {"Bearer sk-test-1"}
    body = bodies[0]
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"]) == ("tiny", 6, 0.0, 1.0)
    assert body["logprobs"] == 1 and body["return_token_ids"] and body["return_tokens_as_token_ids"]
    assert body["stop_token_ids"] == [tokenizer.eos_token_id]
    assert (body["top_k"], body["min_p"], body["repetition_penalty"]) == (0, 0.0, 1.0)  # not the server's defaults
    s = engine.stats
    assert (s.requests, s.attempts, s.failed, dict(s.errors)) == (6, 6, 0, {})
    assert s.generated_tokens == sum(len(g.completion_ids) for g in got)


def test_sampled_logprobs_are_the_models_under_the_temperature(stub, connect, tiny_model, kuhn_prompts):
    engine = connect(tiny_model)
    torch.manual_seed(0)
    sampling = SamplingParams(max_new_tokens=6, temperature=0.7)
    for g in generate_all(engine, kuhn_prompts, sampling):
        ids = torch.tensor([g.prompt_ids + g.completion_ids])
        with torch.no_grad():
            logits = tiny_model(input_ids=ids).logits[0].float()
        p, c = len(g.prompt_ids), len(g.completion_ids)
        want = torch.log_softmax(logits[p - 1:p - 1 + c] / 0.7, -1).gather(-1, ids[0, p:, None]).squeeze(-1)
        torch.testing.assert_close(torch.tensor(g.logprobs), want, atol=1e-4, rtol=0)


def test_token_ids_are_also_read_from_token_id_spelt_logprob_tokens(stub, connect, tiny_model, tokenizer,
                                                                    kuhn_prompts):
    engine = connect(tiny_model)
    stub.script = ["tokens_only"] * len(kuhn_prompts)
    got = [asyncio.run(engine.generate(p, GREEDY)) for p in kuhn_prompts]
    assert not stub.script  # every answer came without a token_ids field
    assert_same_generations(got, HFEngine(tiny_model, tokenizer).generate_batch(kuhn_prompts, GREEDY))


def test_concurrent_requests_are_all_answered_at_most_max_concurrency_at_once(stub, connect, tiny_model, tokenizer,
                                                                             kuhn_prompts):
    stub.delay_s = 0.3  # each request is in flight long enough for the others to arrive
    engine = connect(tiny_model, max_concurrency=3)
    prompts = kuhn_prompts * 2
    got = generate_all(engine, prompts, GREEDY)
    assert [g.prompt_ids for g in got] == prompts and all(g.finish_reason != "error" for g in got)
    assert stub.max_in_flight == 3
    want = HFEngine(tiny_model, tokenizer).generate_batch(kuhn_prompts, GREEDY)
    assert_same_generations(got, want * 2)
    stub.max_in_flight = 0
    assert_same_generations(engine.generate_batch(prompts, GREEDY), want * 2)  # the synchronous front too
    assert stub.max_in_flight == 3


# ----- an untrusted server ----------------------------------------------------------------------
@pytest.mark.parametrize("mode,kind", [
    ("slow", "timeout"),
    ("malformed", "bad_response"),
    ("server_error", "server_error"),
    ("bad_lengths", "bad_response"),
    ("nan_logprob", "bad_response"),
    ("abort", "bad_response"),
])
def test_server_failures_are_counted_invalid_turns_that_yield_no_sample(stub, connect, tiny_model, mode, kind):
    stub.slow_s = 2.5
    engine = connect(tiny_model, retries=1, timeout_s=1.0)
    stub.script = [mode, mode]
    turn = asyncio.run(EnginePolicy(engine).act(ROLE, 0, "Your card: K.", ["check", "bet"]))
    assert turn.invalid and turn.action is None and turn.completion_ids == [] and turn.logprobs == []
    assert turn.prompt_ids and not turn.truncated  # an engine error is no over-long answer
    s = engine.stats
    assert (dict(s.errors), s.attempts, s.failed) == ({kind: 2}, 2, 1)
    metrics = engine.metrics()
    assert metrics[f"engine/errors/{kind}"] == 2.0 and metrics["engine/failed_requests"] == 1.0
    sample = Sample(turn.prompt_ids, turn.completion_ids, turn.logprobs, advantage=-1.0, reward=-1.0, role=ROLE.name,
                    key=("kuhn", ROLE.name))
    assert batching.build([sample], micro_batch_size=4, pad_id=0) == []  # nothing reaches the learner
    assert asyncio.run(engine.generate(turn.prompt_ids, GREEDY)).completion_ids  # the next request is served


def test_transient_failures_are_retried_and_rejections_are_not(stub, connect, tiny_model, kuhn_prompts):
    engine = connect(tiny_model, retries=2)
    stub.script = ["server_error", "malformed"]
    gen = asyncio.run(engine.generate(kuhn_prompts[0], GREEDY))
    assert gen.completion_ids and gen.finish_reason != "error"
    assert dict(engine.stats.errors) == {"server_error": 1, "bad_response": 1} and engine.stats.failed == 0
    stub.script = ["rejected", "rejected"]  # a 4xx is the request's fault: asking again cannot help
    gen = asyncio.run(engine.generate(kuhn_prompts[0], GREEDY))
    assert gen.finish_reason == "error" and engine.stats.errors["rejected"] == 1 and stub.script == ["rejected"]
    assert (engine.stats.requests, engine.stats.attempts, engine.stats.failed) == (2, 4, 1)


def test_a_server_that_went_away_is_a_counted_connection_failure(stub, connect, tiny_model, kuhn_prompts):
    engine = connect(tiny_model, retries=1)
    stub.close()
    gens = generate_all(engine, kuhn_prompts[:3], GREEDY)
    assert all(g.finish_reason == "error" and not g.completion_ids for g in gens)
    assert dict(engine.stats.errors) == {"connection": 6} and engine.stats.failed == 3


@pytest.mark.parametrize("mode,field", [("no_logprobs", r"logprobs\.token_logprobs"), ("no_token_ids", "token_ids")])
def test_a_server_without_token_ids_or_logprobs_cannot_train(stub, connect, tiny_model, kuhn_prompts, mode, field):
    engine = connect(tiny_model)
    stub.script = [mode]
    with pytest.raises(MissingFieldError, match=f"without choices\\[0\\]\\.{field}.*needs the sampled token ids"):
        asyncio.run(engine.generate(kuhn_prompts[0], GREEDY))
    # once the server has shown it gives them, a later answer without them is one bad response
    assert asyncio.run(engine.generate(kuhn_prompts[0], GREEDY)).completion_ids
    stub.script = [mode] * 3
    assert asyncio.run(engine.generate(kuhn_prompts[0], GREEDY)).finish_reason == "error"
    assert dict(engine.stats.errors) == {"bad_response": 3}


# ----- weights ----------------------------------------------------------------------------------
def perturbed(model, seed: int = 0):
    other = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return other


def test_weight_sync_makes_the_server_serve_the_learners_weights(stub, connect, tiny_model, tokenizer, kuhn_prompts):
    learner = perturbed(tiny_model)
    engine = connect(learner, weight_chunk_mb=0.1)  # pushed at start, in chunks
    labels = [label for label, _ in stub.weight_posts]
    n = len(labels)
    assert n > 1 and labels == [f"{i}/{n}" for i in range(1, n + 1)]
    assert sum(count for _, count in stub.weight_posts) == len(learner.state_dict()) - 1  # tied lm_head sent once
    assert_same_generations(generate_all(engine, kuhn_prompts, GREEDY),
                            HFEngine(learner, tokenizer).generate_batch(kuhn_prompts, GREEDY))
    with torch.no_grad():  # an update of the learner, then the sync
        for p in learner.parameters():
            p.mul_(-1.0)
    stale = HFEngine(copy.deepcopy(stub.model), tokenizer).generate_batch(kuhn_prompts, GREEDY)
    engine.load_weights(learner)
    want = HFEngine(learner, tokenizer).generate_batch(kuhn_prompts, GREEDY)
    got = generate_all(engine, kuhn_prompts, GREEDY)
    assert_same_generations(got, want)
    assert [g.logprobs for g in got] != [g.logprobs for g in stale]
    served = stub.model.state_dict()
    assert all(torch.equal(served[k], v) for k, v in learner.state_dict().items())
    assert engine.stats.weight_syncs == 2 and len(stub.weight_posts) == 2 * n


def test_without_weight_updates_the_backend_serves_frozen_models_only(stub, connect, tiny_model, tokenizer,
                                                                      kuhn_prompts):
    engine = connect(perturbed(tiny_model), weight_sync="none")  # the given model is not pushed
    assert not stub.weight_posts
    assert_same_generations(generate_all(engine, kuhn_prompts, GREEDY),
                            HFEngine(tiny_model, tokenizer).generate_batch(kuhn_prompts, GREEDY))
    with pytest.raises(RuntimeError, match="weight_sync is 'none'.*frozen models only"):
        engine.load_weights(tiny_model)
    plain = OpenAIStub(copy.deepcopy(tiny_model), tokenizer, weights=False)
    try:
        with pytest.raises(RuntimeError, match="weight_sync is 'http'.*no weight-update endpoint.*weight_sync: none"):
            connect(tiny_model, server=plain)
        assert asyncio.run(connect(tiny_model, server=plain, weight_sync="none").generate(kuhn_prompts[0], GREEDY))
    finally:
        plain.close()


def test_two_engines_cannot_push_weights_to_one_server(stub, connect, tiny_model):
    first = connect(tiny_model)
    with pytest.raises(RuntimeError, match="another engine of this run already pushes weights"):
        connect(perturbed(tiny_model))  # a frozen opponent would silently play with the learner's weights
    assert len(stub.weight_posts) == 1
    asyncio.run(first.aclose())
    connect(tiny_model)  # once the first is closed the server is free


# ----- configuration ----------------------------------------------------------------------------
def test_options_and_server_problems_name_the_setting(stub, connect, tiny_model, monkeypatch):
    base = {"arenas": [{"name": "k", "game": "kuhn_poker"}]}

    def config(**options):
        return load_config(data={**base, "engine": {"backend": "openai", "options": options}})

    assert config(base_url="http://h:8000/v1/", model="m").engine.options["base_url"] == "http://h:8000/v1/"
    with pytest.raises(ConfigError, match="base_url"):
        config(model="m")
    with pytest.raises(ConfigError, match="base_url must start with http"):
        config(base_url="localhost:8000", model="m")
    with pytest.raises(ConfigError, match="max_conc"):
        config(base_url="http://h/v1", model="m", max_conc=4)
    with pytest.raises(ConfigError, match="weight_sync"):
        config(base_url="http://h/v1", model="m", weight_sync="nccl")
    with pytest.raises(ValueError, match=r"engine\.options\.model: .* serves \['tiny'\], not 'other'"):
        connect(tiny_model, model="other")
    with pytest.raises(ValueError, match=r"engine\.options\.base_url: .*127\.0\.0\.1:9/v1 does not answer"):
        connect(tiny_model, base_url="http://127.0.0.1:9/v1")
    monkeypatch.delenv("SPARRING_MISSING_KEY", raising=False)
    with pytest.raises(ValueError, match=r"engine\.options\.api_key_env: .*SPARRING_MISSING_KEY"):
        connect(tiny_model, api_key_env="SPARRING_MISSING_KEY")


# ----- training through the server --------------------------------------------------------------
def test_a_training_run_samples_from_the_server_and_keeps_it_on_policy(stub, tmp_path, small_spec_kw):
    from sparring.training.trainer import Trainer

    data = {
        "run": {"name": "openai", "output_dir": str(tmp_path / "run"), "seed": 1, "steps": 2},
        "model": {"name": "tiny", "tiny": small_spec_kw},
        "sampling": {"max_new_tokens": 4, "temperature": 1.0},
        "engine": {"backend": "openai", "options": {"base_url": stub.url, "model": "tiny", "max_concurrency": 8}},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 8, "opponent": {"kind": "random"}}],
        "warm_start": {"enabled": False},
        "optim": {"learning_rate": 1e-2, "micro_batch_size": 8},
        "eval": {"every": 0},
        "checkpoint": {"every": 2},
    }
    initial = {k: v.clone() for k, v in stub.model.state_dict().items()}
    trainer = Trainer(load_config(data=data), show_progress=False)
    try:
        trainer.train()
        learner = trainer.learner.model.state_dict()
        metrics = trainer.engine.metrics()
    finally:
        trainer.close()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "perf/step_s" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all(r["rollout/samples"] > 0 and "loss/skipped" not in r for r in steps)
    assert len(stub.requests) == sum(r["rollout/turns"] for r in steps)  # every learner turn went to the server
    # the server's log-probs are the learner's: before each update the PPO ratio is 1 (step 2 shows the sync)
    assert all(abs(r["loss/ratio_mean"] - 1.0) < 1e-3 for r in steps), [r["loss/ratio_mean"] for r in steps]
    assert (metrics["engine/failed_requests"], metrics["engine/weight_syncs"]) == (0.0, 3.0)  # at start + 2 updates
    served = stub.model.state_dict()
    assert all(torch.equal(served[k], v) for k, v in learner.items())
    assert any(not torch.equal(initial[k], v) for k, v in learner.items())


def test_token_id_spellings_that_are_not_plain_integers_are_rejected_not_raised():
    from sparring.agents.openai_engine import _ids_from_tokens

    assert _ids_from_tokens(["token_id:12", "token_id:7"]) == [12, 7]
    for bad in (["token_id:²"], ["token_id:" + "9" * 5000], ["token_id:"], ["token_id:-3"], [12]):
        assert _ids_from_tokens(bad) is None
