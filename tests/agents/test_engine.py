"""The HF engine: the asyncio batcher in front of generate, greedy determinism, weight sync."""

from __future__ import annotations

import asyncio

import pytest
import torch

from sparring.agents.hf_engine import HFEngine
from sparring.training.logprobs import token_logprobs
from sparring.types import Generation, SamplingParams

SHORT = SamplingParams(max_new_tokens=4, temperature=1.0)


@pytest.fixture
def engine(tiny_model, tokenizer):
    return HFEngine(tiny_model, tokenizer, max_batch_size=64)


def run_all(engine: HFEngine, requests: list[tuple[list[int], SamplingParams]]) -> list[Generation]:
    async def main():
        try:
            return await asyncio.gather(*[engine.generate(p, s) for p, s in requests])
        finally:
            await engine.aclose()

    return asyncio.run(main())


def test_fifty_concurrent_requests_are_batched_and_answered_in_order(engine, kuhn_prompts):
    # 50 distinct prompts: each coroutine must get the generation for its own prompt
    prompts = [kuhn_prompts[i % len(kuhn_prompts)] + [10 + i] for i in range(50)]
    gens = run_all(engine, [(p, SHORT) for p in prompts])
    assert len(gens) == 50
    for p, g in zip(prompts, gens):
        assert isinstance(g, Generation)
        assert g.prompt_ids == p
        assert 1 <= len(g.completion_ids) <= SHORT.max_new_tokens
        assert len(g.logprobs) == len(g.completion_ids)
        assert all(lp <= 0.0 for lp in g.logprobs)
        assert g.finish_reason in ("stop", "length")
        if g.finish_reason == "stop":
            assert g.completion_ids[-1] == engine.eos_id
        else:
            assert engine.eos_id not in g.completion_ids and len(g.completion_ids) == SHORT.max_new_tokens
    assert engine.stats.sequences == 50
    assert 1 <= engine.stats.batches <= 3


def test_requests_with_different_sampling_are_all_served(engine, kuhn_prompts):
    settings = [SamplingParams(max_new_tokens=2, temperature=1.0), SamplingParams(max_new_tokens=5, temperature=0.7),
                SamplingParams(max_new_tokens=3, temperature=0.0), SamplingParams(max_new_tokens=3, temperature=1.0, top_p=0.9)]
    requests = [(kuhn_prompts[i % len(kuhn_prompts)], settings[i % len(settings)]) for i in range(24)]
    gens = run_all(engine, requests)
    assert len(gens) == 24
    for (p, s), g in zip(requests, gens):
        assert g.prompt_ids == p
        assert 1 <= len(g.completion_ids) <= s.max_new_tokens
    # one batch per distinct setting (all were pending together), not one per request
    assert len(settings) <= engine.stats.batches <= 2 * len(settings)
    # greedy requests on the same prompt agree with each other
    greedy = [g for (p, s), g in zip(requests, gens) if s.temperature == 0.0]
    by_prompt = {}
    for (p, s), g in zip(requests, gens):
        if s.temperature == 0.0:
            by_prompt.setdefault(tuple(p), set()).add(tuple(g.completion_ids))
    assert greedy and all(len(v) == 1 for v in by_prompt.values())


def test_max_batch_size_splits_batches(tiny_model, tokenizer, kuhn_prompts):
    engine = HFEngine(tiny_model, tokenizer, max_batch_size=4)
    gens = run_all(engine, [(kuhn_prompts[i % len(kuhn_prompts)], SHORT) for i in range(10)])
    assert len(gens) == 10
    assert engine.stats.batches == 3  # 4 + 4 + 2


def test_greedy_is_deterministic_and_batch_independent(engine, kuhn_prompts):
    greedy = SamplingParams(max_new_tokens=6, temperature=0.0)
    torch.manual_seed(0)
    a = engine.generate_batch(kuhn_prompts, greedy)
    torch.manual_seed(1)
    b = engine.generate_batch(kuhn_prompts, greedy)
    assert [g.completion_ids for g in a] == [g.completion_ids for g in b]
    torch.testing.assert_close(torch.tensor(sum((g.logprobs for g in a), [])),
                               torch.tensor(sum((g.logprobs for g in b), [])))
    # alone (no left padding) a prompt decodes the same tokens as inside a padded batch
    for i in (0, len(kuhn_prompts) - 1):
        alone = engine.generate_batch([kuhn_prompts[i]], greedy)[0]
        assert alone.completion_ids == a[i].completion_ids
        torch.testing.assert_close(torch.tensor(alone.logprobs), torch.tensor(a[i].logprobs), atol=1e-4, rtol=0)


def test_sampling_is_seeded(engine, kuhn_prompts):
    s = SamplingParams(max_new_tokens=6, temperature=1.0)
    torch.manual_seed(123)
    a = [g.completion_ids for g in engine.generate_batch(kuhn_prompts * 4, s)]
    torch.manual_seed(123)
    b = [g.completion_ids for g in engine.generate_batch(kuhn_prompts * 4, s)]
    assert a == b
    assert len({tuple(x) for x in a}) > 1  # an untrained model at T=1 samples varied text


def test_engine_shares_the_learners_weights(tiny_model, tokenizer, kuhn_prompts):
    """One copy of the weights: the engine serves the learner's own tensors (same data pointers),
    and leaves the model as it found it (train mode, gradients, generation config)."""
    tiny_model.train()
    config = tiny_model.generation_config
    engine = HFEngine(tiny_model, tokenizer)
    p_engine = dict(engine.model.named_parameters())
    for name, p in tiny_model.named_parameters():
        assert p_engine[name].data_ptr() == p.data_ptr()
    engine.generate_batch(kuhn_prompts[:2], SHORT)
    assert tiny_model.training and tiny_model.generation_config is config
    assert all(p.requires_grad for p in tiny_model.parameters())


def _sequence_logprobs(model, gen: Generation, temperature: float) -> torch.Tensor:
    ids = torch.tensor([gen.prompt_ids + gen.completion_ids])
    with torch.no_grad():
        logp, _ = token_logprobs(model, ids, torch.ones_like(ids), temperature)
    p = len(gen.prompt_ids)
    return logp[0, p - 1:p - 1 + len(gen.completion_ids)]


def test_load_weights_takes_the_learners_weights(tiny_model, tokenizer, kuhn_prompts):
    """An engine over its own copy (a frozen opponent's) sees the learner only on load_weights;
    the shared engine sees every update at once."""
    import copy

    shared = HFEngine(tiny_model, tokenizer)
    engine = HFEngine(copy.deepcopy(tiny_model), tokenizer)
    s = SamplingParams(max_new_tokens=5, temperature=1.0)
    torch.manual_seed(0)
    before = engine.generate_batch(kuhn_prompts[:3], s)

    # change the learner's weights; the engine must not see it until load_weights
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in tiny_model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    torch.manual_seed(0)
    stale = engine.generate_batch(kuhn_prompts[:3], s)
    assert [x.completion_ids for x in stale] == [x.completion_ids for x in before]
    assert sum((x.logprobs for x in stale), []) == pytest.approx(sum((x.logprobs for x in before), []), abs=1e-6)

    torch.manual_seed(0)
    live = shared.generate_batch(kuhn_prompts[:3], s)
    for gen in live:
        torch.testing.assert_close(torch.tensor(gen.logprobs), _sequence_logprobs(tiny_model, gen, 1.0), atol=1e-4, rtol=0)

    engine.load_weights(tiny_model)
    for name, p in engine.model.state_dict().items():
        torch.testing.assert_close(p, tiny_model.state_dict()[name], atol=0, rtol=0)
    # the same sampled tokens now have the learner's (new) log-probs, not the old ones
    for gen in before:
        new = _sequence_logprobs(tiny_model, gen, 1.0)
        old = torch.tensor(gen.logprobs)
        assert (new - old).abs().max() > 1e-3
    torch.manual_seed(0)
    after = engine.generate_batch(kuhn_prompts[:3], s)
    for gen in after:
        torch.testing.assert_close(torch.tensor(gen.logprobs), _sequence_logprobs(tiny_model, gen, 1.0), atol=1e-4, rtol=0)


def test_engine_survives_a_new_event_loop(engine, kuhn_prompts):
    # the trainer and evaluation may use different loops: the scheduler restarts on each,
    # even when the previous loop was closed without aclose()
    async def three(prompt):
        return await asyncio.gather(*[engine.generate(prompt, SHORT) for _ in range(3)])

    first = asyncio.run(three(kuhn_prompts[0]))
    second = run_all(engine, [(kuhn_prompts[1], SHORT)] * 3)
    assert [g.prompt_ids for g in first] == [kuhn_prompts[0]] * 3
    assert [g.prompt_ids for g in second] == [kuhn_prompts[1]] * 3
    assert engine.stats.sequences == 6


def test_sampling_ignores_the_models_generation_config(tiny_path, tokenizer, kuhn_prompts):
    """The engine reports log-probs of the raw model distribution (what the learner computes),
    so it must sample from exactly that distribution: logits processors inherited from the
    model's generation_config.json (hub models ship e.g. repetition_penalty) must not apply.
    Greedy decoding must then pick the argmax of the raw logits at every position."""
    from sparring.agents.models import load_model

    model = load_model(tiny_path)
    model.generation_config.repetition_penalty = 1000.0
    model.generation_config.no_repeat_ngram_size = 1
    engine = HFEngine(model, tokenizer)
    plain = HFEngine(load_model(tiny_path), tokenizer)
    greedy = SamplingParams(max_new_tokens=6, temperature=0.0)
    got = engine.generate_batch(kuhn_prompts[:2], greedy)
    want = plain.generate_batch(kuhn_prompts[:2], greedy)
    for g in got:
        ids = torch.tensor([g.prompt_ids + g.completion_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(g.prompt_ids) - 1:-1]
        assert g.completion_ids == logits.argmax(-1).tolist()
    assert [g.completion_ids for g in got] == [g.completion_ids for g in want]


def test_sampling_draws_from_the_whole_vocabulary_not_a_top_k(tiny_path, tokenizer, kuhn_prompts):
    """transformers samples with top_k=50 unless told otherwise; the engine must not (its
    log-probs are those of the full softmax, and the learner's ratios with them). A near-flat
    model (output weights ~1e-4, so distinct but nearly equal logits) makes every token about
    equally likely: 512 one-token samples then cover far more than 50 distinct tokens."""
    from sparring.agents.models import load_model

    model = load_model(tiny_path)
    with torch.no_grad():
        model.get_output_embeddings().weight.copy_(torch.randn_like(model.get_output_embeddings().weight) * 1e-4)
    engine = HFEngine(model, tokenizer, max_batch_size=512)
    torch.manual_seed(0)
    gens = engine.generate_batch([kuhn_prompts[0]] * 512, SamplingParams(max_new_tokens=1, temperature=1.0))
    assert len({g.completion_ids[0] for g in gens}) > 200


def test_a_lora_learner_is_served_unmerged(tiny_path, tokenizer, kuhn_prompts):
    """A PEFT learner is served as it is: adapters active, nothing merged or copied, so every
    adapter update reaches generation at once."""
    from sparring.agents.models import load_model

    peft_model = load_model(tiny_path, lora={"r": 4, "lora_alpha": 8, "target_modules": "all-linear"})
    engine = HFEngine(peft_model, tokenizer)
    assert engine.model is peft_model
    s = SamplingParams(max_new_tokens=4, temperature=1.0)
    torch.manual_seed(0)
    plain = engine.generate_batch(kuhn_prompts[:1], s)[0]
    with torch.no_grad():  # lora_B starts at 0: make the adapters do something
        g = torch.Generator().manual_seed(0)
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    assert (torch.tensor(plain.logprobs) - _sequence_logprobs(peft_model, plain, 1.0)).abs().max() > 1e-3
    torch.manual_seed(0)
    gen = engine.generate_batch(kuhn_prompts[:1], s)[0]
    torch.testing.assert_close(torch.tensor(gen.logprobs), _sequence_logprobs(peft_model, gen, 1.0), atol=1e-4, rtol=0)
    assert any("lora" in n for n, _ in peft_model.named_parameters())  # the learner keeps its adapters


def test_a_failing_batch_is_reported_to_its_waiters_and_the_engine_goes_on(engine, kuhn_prompts):
    vocab = engine.model.config.vocab_size

    async def main():
        try:
            bad = await asyncio.gather(engine.generate([vocab + 10, 5], SHORT), engine.generate(kuhn_prompts[0], SHORT),
                                       return_exceptions=True)
            good = await engine.generate(kuhn_prompts[1], SHORT)
            return bad, good
        finally:
            await engine.aclose()

    bad, good = asyncio.run(main())
    assert isinstance(bad[0], Exception)  # an out-of-vocabulary id fails loudly, never silently
    assert isinstance(good, Generation) and good.prompt_ids == kuhn_prompts[1]


def test_prompt_cache_tells_apart_roles_that_share_a_name(tokenizer):
    """Two arenas of one game may prompt the same role name differently; each gets its own prompt."""
    from sparring.agents.policies import EnginePolicy
    from sparring.agents.roles import Role

    class _Engine:
        pass

    engine = _Engine()
    engine.tokenizer = tokenizer
    policy = EnginePolicy(engine)
    plain = Role("tictactoe/p0")
    briefed = Role("tictactoe/p0", system_prompt="You are careful.", answer_format="boxed",
                   user_template="{observation}\nPut your move in \\boxed{}.")
    a, b = policy.prompt_ids(plain, "board"), policy.prompt_ids(briefed, "board")
    assert a != b and b == briefed.prompt_ids(tokenizer, "board") and a == plain.prompt_ids(tokenizer, "board")


def test_prompt_cache_is_bounded_least_recently_used_out(tokenizer, monkeypatch):
    """Corpus prompts are long and rarely repeat: the cache keeps the most recent ones only."""
    from sparring.agents import policies
    from sparring.agents.roles import Role

    class _Engine:
        pass

    engine = _Engine()
    engine.tokenizer = tokenizer
    monkeypatch.setattr(policies, "PROMPT_CACHE_SIZE", 2)
    policy, role = policies.EnginePolicy(engine), Role("r")
    for obs in ("a", "b", "a", "c"):  # "a" used again before "c": "b" is the least recent
        policy.prompt_ids(role, obs)
    assert [o for _, o in policy._prompt_cache] == ["a", "c"]
    assert policy.prompt_ids(role, "b") == role.prompt_ids(tokenizer, "b")


def test_repeated_prompts_run_their_prefill_once_and_generate_the_same(engine, kuhn_prompts, monkeypatch):
    prompts = [kuhn_prompts[i % 3] for i in range(24)]  # 3 distinct prompts of different lengths
    greedy = SamplingParams(max_new_tokens=6, temperature=0.0)
    prefilled = []
    share = engine._shared_prompt_cache

    def recorded(p, i, m):
        cache = share(p, i, m)
        prefilled.append((cache.layers[0].keys.shape[0], cache.get_seq_length()))
        return cache

    monkeypatch.setattr(engine, "_shared_prompt_cache", recorded)
    shared = engine.generate_batch(prompts, greedy)
    assert prefilled == [(24, max(map(len, prompts)) - 1)]  # every row's prompt but its last token
    monkeypatch.setattr(engine, "_shared_prompt_cache", lambda p, i, m: None)
    plain = engine.generate_batch(prompts, greedy)
    assert [g.completion_ids for g in shared] == [g.completion_ids for g in plain]
    torch.testing.assert_close(torch.tensor(sum((g.logprobs for g in shared), [])),
                               torch.tensor(sum((g.logprobs for g in plain), [])), atol=1e-5, rtol=0)
    # sampled rows of one prompt still differ from each other (each row has its own cache copy)
    torch.manual_seed(0)
    sampled = engine.generate_batch(prompts, SamplingParams(max_new_tokens=6, temperature=1.0))
    assert len({tuple(g.completion_ids) for g in sampled[0::3]}) > 1


def test_distinct_prompts_skip_the_shared_prefill(engine, kuhn_prompts):
    prompts = [kuhn_prompts[0] + [10 + i] for i in range(8)]
    ids = torch.zeros((8, max(map(len, prompts))), dtype=torch.long)
    assert engine._shared_prompt_cache(prompts, ids, torch.ones_like(ids)) is None
