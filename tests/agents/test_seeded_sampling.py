"""engine.seeded_sampling: each episode's requests sample from their own seeded generators."""

from __future__ import annotations

import asyncio
import math

import pytest
import torch

from sparring.agents.hf_engine import HFEngine, _nucleus, _SeededSampler
from sparring.agents.request_seeds import episode_stream, mix, next_request_seed
from sparring.types import SamplingParams


def test_request_seeds_follow_the_episode_and_are_absent_outside_one():
    assert next_request_seed() is None
    with episode_stream(7):
        first = [next_request_seed() for _ in range(3)]
    with episode_stream(7):
        again = [next_request_seed() for _ in range(3)]
    assert first == again == [mix(7, 0), mix(7, 1), mix(7, 2)] and len(set(first)) == 3
    assert next_request_seed() is None


def test_concurrent_episodes_keep_their_own_streams():
    async def episode(seed, delays):
        with episode_stream(seed):
            out = []
            for d in delays:
                await asyncio.sleep(d)
                out.append(next_request_seed())
            return out

    async def main():
        return await asyncio.gather(episode(1, [0, 0.01, 0]), episode(2, [0.005, 0, 0.002]))

    a, b = asyncio.run(main())
    assert a == [mix(1, n) for n in range(3)] and b == [mix(2, n) for n in range(3)]


def test_gumbel_sampler_draws_from_the_softmax_at_the_temperature():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    n = 20_000
    counts = torch.zeros(4)
    sampler = _SeededSampler([123], temperature=0.7, top_p=1.0)
    for _ in range(n):
        counts[sampler(None, logits).argmax()] += 1
    expected = torch.softmax(logits[0] / 0.7, dim=-1)
    # each frequency within 4 standard errors of its probability
    assert torch.all((counts / n - expected).abs() <= 4 * torch.sqrt(expected * (1 - expected) / n))


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(_nucleus(probs.log(), 0.75))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.75, 0.5 + 0.3 reaches it
    assert torch.isfinite(_nucleus(probs.log(), 0.1)).tolist() == [[True, False, False, False]]
    exact = torch.tensor([[0.5, 0.25, 0.25]])  # the first two reach 0.75 exactly: the third goes
    assert torch.isfinite(_nucleus(exact.log(), 0.75)).tolist() == [[True, True, False]]
    shuffled = probs[:, [2, 0, 3, 1]].log()
    assert torch.isfinite(_nucleus(shuffled, 0.75)).tolist() == [[False, True, False, True]]


def _sample(engine, prompts, seeds, batch):
    engine.max_batch_size = batch

    async def one(i):
        with episode_stream(seeds[i]):
            a = await engine.generate(prompts[i], SamplingParams(8, 1.0, 0.9))
            b = await engine.generate(prompts[i], SamplingParams(8, 1.0, 0.9))
            return a.completion_ids, b.completion_ids, a.logprobs

    async def main():
        return await asyncio.gather(*[one(i) for i in range(len(prompts))])

    return asyncio.run(main())


def test_an_episodes_tokens_do_not_depend_on_its_batch(tiny_model, tokenizer, kuhn_prompts):
    engine = HFEngine(tiny_model, tokenizer, seeded=True)
    seeds = list(range(100, 100 + len(kuhn_prompts)))
    together = _sample(engine, kuhn_prompts, seeds, batch=256)
    alone = _sample(engine, kuhn_prompts, seeds, batch=1)
    torch.manual_seed(999)  # the global RNG plays no part
    reversed_order = _sample(engine, kuhn_prompts[::-1], seeds[::-1], batch=256)[::-1]
    assert [r[:2] for r in together] == [r[:2] for r in alone] == [r[:2] for r in reversed_order]
    for (_, _, a), (_, _, b) in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-4)  # rounding of batched matmuls only
    assert len({tuple(r[0]) for r in together}) > 1 and any(r[0] != r[1] for r in together)


def test_the_recorded_logprobs_are_those_of_the_sampled_tokens(tiny_model, tokenizer, kuhn_prompts):
    from sparring.training.logprobs import token_logprobs

    engine = HFEngine(tiny_model, tokenizer, seeded=True)
    with episode_stream(5):
        gen = asyncio.run(engine.generate(kuhn_prompts[0], SamplingParams(8, 0.8, 1.0)))
    ids = torch.tensor([gen.prompt_ids + gen.completion_ids])
    with torch.no_grad():
        lp, _ = token_logprobs(tiny_model, ids, torch.ones_like(ids), 0.8)
    lp = lp[0, len(gen.prompt_ids) - 1:len(ids[0]) - 1]
    assert lp.tolist() == pytest.approx(gen.logprobs, abs=1e-4)
    assert all(math.isfinite(x) for x in gen.logprobs)


def test_seeded_sampling_needs_a_backend_that_can_seed_requests():
    from sparring.config import EngineConfig

    with pytest.raises(ValueError, match="seeded_sampling: backend 'openai'"):
        EngineConfig(backend="openai", seeded_sampling=True, options={"base_url": "http://x", "model": "m"})
