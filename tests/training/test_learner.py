"""The learner and its loss: every parameter moves, micro-batching equals the full batch and a
plain per-sequence reference, engine and learner agree on log-probs, PPO clipping and KL by hand."""

from __future__ import annotations

import copy
from dataclasses import replace
import math

import pytest
import torch

from sparring.agents.hf_engine import HFEngine
from sparring.training import batching
from sparring.training.learner import Learner
from sparring.training.logprobs import token_logprobs
from sparring.training.loss import policy_loss
from sparring.types import Generation, Sample, SamplingParams


def make_samples(gens: list[Generation], advantages: list[float], logprob_noise: float = 0.0, seed: int = 0) -> list[Sample]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for gen, a in zip(gens, advantages):
        old = torch.tensor(gen.logprobs) + logprob_noise * torch.randn(len(gen.logprobs), generator=g)
        out.append(Sample(gen.prompt_ids, gen.completion_ids, old.tolist(), a, a, "r", ("arena", "r")))
    return out


@pytest.fixture(scope="module")
def generations(tiny_path, tokenizer, kuhn_prompts) -> list[Generation]:
    """Eight real engine generations of different lengths at temperature 1."""
    from sparring.agents.models import load_model

    engine = HFEngine(load_model(tiny_path), tokenizer)
    torch.manual_seed(0)
    gens = engine.generate_batch((kuhn_prompts + kuhn_prompts)[:8], SamplingParams(max_new_tokens=6, temperature=1.0))
    # an untrained model rarely stops early: keep prefixes of different lengths (1..6 tokens)
    # so that token_mean and sequence_mean really differ
    gens = [replace(g, completion_ids=g.completion_ids[:1 + i % 6], logprobs=g.logprobs[:1 + i % 6])
            for i, g in enumerate(gens)]
    assert len({len(g.completion_ids) for g in gens}) > 2
    assert len({len(g.prompt_ids) + len(g.completion_ids) for g in gens}) > 2
    return gens


def learner_for(model, **kw) -> Learner:
    """A learner from flat keyword settings, dealt into the optim and loss config sections."""
    from sparring.config import LossConfig, OptimConfig

    args = dict(learning_rate=1e-3, weight_decay=0.0, grad_clip=1e9)
    args.update(kw)
    temperature, total_steps = args.pop("temperature", 1.0), args.pop("decay_steps", 0)
    loss = {k: args.pop(k) for k in list(args) if k in LossConfig.model_fields}
    return Learner(model, OptimConfig(**args), LossConfig(**loss), temperature=temperature, total_steps=total_steps)


ADVANTAGES = [1.0, -0.5, 2.0, -1.5, 0.25, -2.0, 1.25, -0.75]


def test_every_trainable_parameter_changes(tiny_model, tokenizer, generations):
    learner = learner_for(tiny_model, learning_rate=1e-2, grad_clip=1.0)
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    assert all(p.requires_grad for p in tiny_model.parameters())
    batches = batching.build(make_samples(generations, ADVANTAGES), micro_batch_size=3, pad_id=tokenizer.pad_token_id)
    assert len(batches) == 3
    stats = learner.update(batches)
    assert math.isfinite(stats["loss/total"]) and stats["loss/grad_norm"] > 0
    assert stats["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-3)  # old log-probs are the engine's
    unchanged = [n for n, p in tiny_model.named_parameters() if torch.equal(p.detach(), before[n])]
    assert not unchanged, f"parameters not updated: {unchanged}"


def test_zero_advantages_move_nothing(tiny_model, tokenizer, generations):
    learner = learner_for(tiny_model, learning_rate=1e-2)
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    learner.update(batching.build(make_samples(generations, [0.0] * 8), 4, tokenizer.pad_token_id))
    for n, p in tiny_model.named_parameters():
        assert torch.equal(p.detach(), before[n]), n


def test_empty_batch_is_skipped(tiny_model):
    assert learner_for(tiny_model).update([]) == {"loss/skipped": 1.0}


def test_learning_rate_zero_skips_the_passes(tiny_model, tokenizer, generations):
    """A control run (learning rate 0) runs no forward or backward pass and moves no weight;
    a warm-up that starts the rate near 0 does not count as one."""
    batches = batching.build(make_samples(generations, ADVANTAGES), 4, tokenizer.pad_token_id)
    learner = learner_for(tiny_model, learning_rate=0.0)
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    calls = []
    hook = tiny_model.get_input_embeddings().register_forward_hook(lambda *_: calls.append(1))
    try:
        assert learner.update(batches) == {"loss/frozen": 1.0}
        assert not calls and learner.updates == 1
        assert all(torch.equal(p.detach(), before[n]) for n, p in tiny_model.named_parameters())
        stats = learner_for(tiny_model, learning_rate=1e-3, warmup_steps=1000).update(batches)
        assert calls and "loss/pg" in stats
    finally:
        hook.remove()


def reference_loss(model, samples: list[Sample], aggregation: str, clip_low=0.2, clip_high=0.28, temperature=1.0):
    """Plain per-sequence PPO loss, no padding, no batching: the reference implementation."""
    per_seq_sums, per_seq_means, tokens = [], [], 0
    for s in samples:
        ids = torch.tensor([s.prompt_ids + s.completion_ids])
        logits = model(input_ids=ids).logits[0].float() / temperature
        logp_all = torch.log_softmax(logits, -1)
        p, c = len(s.prompt_ids), len(s.completion_ids)
        positions = torch.arange(p - 1, p - 1 + c)
        logp = logp_all[positions, torch.tensor(s.completion_ids)]
        ratio = torch.exp(logp - torch.tensor(s.old_logprobs))
        a = s.advantage
        per_tok = torch.maximum(-a * ratio, -a * torch.clamp(ratio, 1 - clip_low, 1 + clip_high))
        per_seq_sums.append(per_tok.sum())
        per_seq_means.append(per_tok.mean())
        tokens += c
    if aggregation == "token_mean":
        return torch.stack(per_seq_sums).sum() / tokens
    return torch.stack(per_seq_means).mean()


def grads_of(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("aggregation", ["token_mean", "sequence_mean"])
def test_micro_batching_equals_full_batch_and_reference(tiny_model, tokenizer, generations, aggregation):
    # noisy old log-probs: ratios leave 1 and some tokens are clipped, on both sides
    samples = make_samples(generations, ADVANTAGES, logprob_noise=0.4, seed=1)
    results = {}
    for mbs in (2, len(samples)):
        model = copy.deepcopy(tiny_model)
        learner = learner_for(model, aggregation=aggregation)
        stats = learner.update(batching.build(samples, mbs, tokenizer.pad_token_id))
        results[mbs] = (stats, grads_of(model))
    (s_small, g_small), (s_full, g_full) = results[2], results[len(samples)]
    assert 0.0 < s_full["loss/clip_fraction"] < 1.0, "want some clipped tokens"
    assert s_small["loss/total"] == pytest.approx(s_full["loss/total"], abs=1e-6)
    assert s_small["loss/clip_fraction"] == pytest.approx(s_full["loss/clip_fraction"], abs=1e-6)
    assert s_small["loss/grad_norm"] == pytest.approx(s_full["loss/grad_norm"], rel=1e-5)
    for n in g_full:
        torch.testing.assert_close(g_small[n], g_full[n], atol=1e-6, rtol=1e-4, msg=n)

    # the plain reference gives the same loss and gradients
    ref_model = copy.deepcopy(tiny_model)
    ref = reference_loss(ref_model, samples, aggregation)
    ref.backward()
    assert ref.item() == pytest.approx(s_full["loss/total"], abs=1e-5)
    g_ref = grads_of(ref_model)
    for n in g_full:
        torch.testing.assert_close(g_full[n], g_ref[n], atol=1e-6, rtol=1e-4, msg=n)


@pytest.mark.parametrize("aggregation", ["token_mean", "sequence_mean"])
def test_identical_samples_share_a_row_with_the_same_update(tiny_model, tokenizer, generations, aggregation):
    # copies of three samples with other advantages (both signs: PPO clips them at opposite ends)
    base = make_samples(generations, ADVANTAGES, logprob_noise=0.4, seed=1)
    copies = [replace(base[i], advantage=a) for i, a in ((0, -2.0), (0, 0.5), (1, 1.5), (2, 2.0), (2, 2.0))]
    samples = base + copies
    merged = batching.build(samples, 3, tokenizer.pad_token_id)
    plain = batching.build(samples, 3, tokenizer.pad_token_id, merge=False)
    assert sum(len(mb.advantages) for mb in merged) == 8 and sum(len(mb.advantages) for mb in plain) == 13
    assert sorted(c for mb in merged for c in mb.counts.tolist()) == [1] * 5 + [2, 3, 3]
    assert sum(mb.advantages.sum().item() for mb in merged) == pytest.approx(sum(s.advantage for s in samples))
    results = []
    for batches in (merged, plain):
        model = copy.deepcopy(tiny_model)
        learner = learner_for(model, aggregation=aggregation, kl_coef=0.2, entropy_coef=0.05)
        torch.manual_seed(3)
        with torch.no_grad():  # move the policy off the reference so the KL term has a gradient
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        results.append((learner.update(batches), grads_of(model)))
    (s_merged, g_merged), (s_plain, g_plain) = results
    assert 0.0 < s_plain["loss/clip_fraction"] < 1.0 and s_plain["loss/kl"] > 0
    # (clip_fraction, a logged figure, reads a mixed-sign row by the sign of its summed advantage)
    for key in ("loss/total", "loss/pg", "loss/kl", "loss/entropy", "loss/ratio_mean"):
        assert s_merged[key] == pytest.approx(s_plain[key], abs=1e-5), key
    for n in g_plain:
        torch.testing.assert_close(g_merged[n], g_plain[n], atol=1e-6, rtol=1e-4, msg=n)


def test_aggregations_differ(tiny_model, tokenizer, generations):
    # sanity: the two modes are not the same number when sequence lengths differ
    samples = make_samples(generations, ADVANTAGES, logprob_noise=0.4, seed=1)
    assert len({len(s.completion_ids) for s in samples}) > 1
    with torch.no_grad():
        a = reference_loss(tiny_model, samples, "token_mean")
        b = reference_loss(tiny_model, samples, "sequence_mean")
    assert abs(a.item() - b.item()) > 1e-4


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])  # 0: greedy, log-probs at T=1
def test_learner_logprobs_equal_engine_logprobs(tiny_model, tokenizer, kuhn_prompts, temperature):
    engine = HFEngine(tiny_model, tokenizer)
    torch.manual_seed(7)
    gens = engine.generate_batch(kuhn_prompts, SamplingParams(max_new_tokens=6, temperature=temperature))
    samples = make_samples(gens, [1.0] * len(gens))
    (mb,) = batching.build(samples, micro_batch_size=64, pad_id=tokenizer.pad_token_id)
    assert int(mb.loss_mask.sum()) == sum(len(g.completion_ids) for g in gens)
    with torch.no_grad():
        logp, _ = token_logprobs(tiny_model, mb.input_ids, mb.attention_mask, temperature)
    mask = mb.loss_mask.bool()
    torch.testing.assert_close(logp[mask], mb.old_logprobs[mask], atol=1e-4, rtol=0)
    with torch.no_grad():  # the windowed projection (logits only from the first completion token on) agrees
        windowed, ent_w = token_logprobs(tiny_model, mb.input_ids, mb.attention_mask, temperature, True, mb.loss_mask)
        _, ent = token_logprobs(tiny_model, mb.input_ids, mb.attention_mask, temperature, True)
    assert windowed.shape == logp.shape and mb.loss_mask[:, 0].sum() == 0
    torch.testing.assert_close(windowed[mask], logp[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(ent_w[mask], ent[mask], atol=1e-5, rtol=0)
    # and through the learner: the first ratios are exactly ~1
    stats = learner_for(tiny_model, temperature=temperature).update([mb])
    assert stats["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    assert stats["loss/clip_fraction"] == 0.0


def test_batching_alignment_by_hand():
    s1 = Sample([5, 6, 7], [8, 9], [-0.1, -0.2], 1.0, 1.0, "r", "k")
    s2 = Sample([5], [6, 7, 8], [-0.3, -0.4, -0.5], -1.0, -1.0, "r", "k")
    empty = Sample([5], [], [], 3.0, 3.0, "r", "k")
    (mb,) = batching.build([s1, s2, empty], micro_batch_size=8, pad_id=0)
    # sorted by length: s2 (4 tokens) then s1 (5 tokens); the empty completion is dropped
    assert mb.input_ids.tolist() == [[5, 6, 7, 8, 0], [5, 6, 7, 8, 9]]
    assert mb.attention_mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert mb.loss_mask.tolist() == [[1, 1, 1, 0], [0, 0, 1, 1]]
    torch.testing.assert_close(mb.old_logprobs, torch.tensor([[-0.3, -0.4, -0.5, 0.0], [0.0, 0.0, -0.1, -0.2]]))
    assert mb.advantages.tolist() == [-1.0, 1.0]
    assert mb.total_tokens == 5 and mb.total_sequences == 2
    assert batching.build([empty], 4, 0) == []


def _ppo_case():
    # four one-token sequences; logp - old = log(ratio)
    ratios = torch.tensor([2.0, 0.5, 0.5, 2.0])
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    logp = torch.log(ratios).unsqueeze(-1)
    old = torch.zeros(4, 1)
    mask = torch.ones(4, 1)
    return logp, old, adv, mask


def test_ppo_clipping_hand_computed():
    logp, old, adv, mask = _ppo_case()
    # clip_low 0.2, clip_high 0.28: per-token max(-A r, -A clip(r, 0.8, 1.28))
    #   r=2,   A=+1: max(-2,   -1.28) = -1.28   (clipped)
    #   r=0.5, A=-1: max(0.5,   0.8)  =  0.8    (clipped)
    #   r=0.5, A=+1: max(-0.5, -0.8)  = -0.5
    #   r=2,   A=-1: max(2,     1.28) =  2.0
    # token mean over 4 tokens: (-1.28 + 0.8 - 0.5 + 2.0) / 4 = 0.255
    t = policy_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.28, total_tokens=4, total_sequences=4)
    assert t.loss.item() == pytest.approx(0.255, abs=1e-6)
    assert t.pg == pytest.approx(0.255, abs=1e-6)
    assert t.clip_fraction == pytest.approx(0.5)
    assert t.ratio_mean == pytest.approx(1.25, abs=1e-6)
    # other clip range: clip_low 0.6, clip_high 1.5 -> clip(r, 0.4, 2.5)
    #   r=2, A=+1: -2 ; r=0.5, A=-1: max(0.5, 0.5) = 0.5 ; r=0.5, A=+1: -0.5 ; r=2, A=-1: 2
    t2 = policy_loss(logp, old, adv, mask, clip_low=0.6, clip_high=1.5, total_tokens=4, total_sequences=4)
    assert t2.loss.item() == pytest.approx(0.0, abs=1e-6)
    assert t2.clip_fraction == 0.0


def test_ppo_gradient_is_zero_on_clipped_tokens():
    logp, old, adv, mask = _ppo_case()
    logp = logp.clone().requires_grad_(True)
    policy_loss(logp, old, adv, mask, total_tokens=4, total_sequences=4).loss.backward()
    # clipped tokens (0 and 1) give no gradient; unclipped d/dlogp (-A r)/4 = -A r / 4
    torch.testing.assert_close(logp.grad.squeeze(-1), torch.tensor([0.0, 0.0, -0.125, 0.5]))


def test_masked_tokens_do_not_count():
    logp, old, adv, mask = _ppo_case()
    mask = torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    # tokens 0, 1 only: (-1.28 + 0.8) / total_tokens(2) = -0.24
    t = policy_loss(logp, old, adv, mask, total_tokens=2, total_sequences=2)
    assert t.loss.item() == pytest.approx(-0.24, abs=1e-6)
    # sequence_mean: sequences 2, 3 have no tokens; sum of per-seq means / total_sequences(2)
    t = policy_loss(logp, old, adv, mask, aggregation="sequence_mean", total_tokens=2, total_sequences=2)
    assert t.loss.item() == pytest.approx(-0.24, abs=1e-6)
    with pytest.raises(ValueError):
        policy_loss(logp, old, adv, mask, aggregation="bogus", total_tokens=2, total_sequences=2)


def test_sequence_mean_hand_computed():
    # two sequences: [r=1, r=1] with A=1 -> per-token -1, -1 -> mean -1
    #                [r=1, pad] with A=3 -> per-token -3      -> mean -3
    logp = torch.zeros(2, 2)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([1.0, 3.0])
    seq = policy_loss(logp, logp, adv, mask, aggregation="sequence_mean", total_tokens=3, total_sequences=2)
    tok = policy_loss(logp, logp, adv, mask, aggregation="token_mean", total_tokens=3, total_sequences=2)
    assert seq.loss.item() == pytest.approx(-2.0)  # (-1 + -3) / 2
    assert tok.loss.item() == pytest.approx(-5.0 / 3.0)  # (-1 - 1 - 3) / 3


def test_kl_is_nonnegative_and_zero_at_the_reference():
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(4, 5, generator=g) * 3
    ref = -torch.rand(4, 5, generator=g) * 3
    mask = torch.ones(4, 5)
    adv = torch.zeros(4)
    kw = dict(total_tokens=20, total_sequences=4, kl_coef=0.5)
    t = policy_loss(logp, logp, adv, mask, ref_logp=ref, **kw)
    assert t.kl > 0
    # k3 by hand: mean over tokens of exp(d) - d - 1, d = ref - logp; loss = 0.5 * kl (pg is 0)
    d = ref - logp
    assert t.kl == pytest.approx((torch.exp(d) - d - 1).mean().item(), rel=1e-5)
    assert t.loss.item() == pytest.approx(0.5 * t.kl, rel=1e-5)
    same = policy_loss(logp, logp, adv, mask, ref_logp=logp.clone(), **kw)
    assert same.kl == 0.0 and same.loss.item() == 0.0
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(3, 4, generator=g) * 2, torch.randn(3, 4, generator=g) * 2
        assert policy_loss(a, a, torch.zeros(3), torch.ones(3, 4), ref_logp=b, total_tokens=12, total_sequences=3, kl_coef=1.0).kl >= 0


def test_entropy_bonus_lowers_the_loss():
    logp = torch.zeros(1, 2)
    mask = torch.ones(1, 2)
    entropy = torch.tensor([[2.0, 4.0]])
    t = policy_loss(logp, logp, torch.zeros(1), mask, total_tokens=2, total_sequences=1, entropy=entropy, entropy_coef=0.1)
    assert t.entropy == pytest.approx(3.0)
    assert t.loss.item() == pytest.approx(-0.3)


def test_learner_state_dict_round_trip(tiny_model, tokenizer, generations):
    learner = learner_for(tiny_model, warmup_steps=4)
    learner.update(batching.build(make_samples(generations, ADVANTAGES), 8, tokenizer.pad_token_id))
    other = learner_for(copy.deepcopy(tiny_model), warmup_steps=4)
    other.load_state_dict(learner.state_dict())
    assert other.scheduler.get_last_lr() == learner.scheduler.get_last_lr() == [pytest.approx(1e-3 * 2 / 4)]
    s1 = learner.optimizer.state_dict()["state"]
    s2 = other.optimizer.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        torch.testing.assert_close(s1[k]["exp_avg"], s2[k]["exp_avg"], atol=0, rtol=0)


def test_lr_factor_warmup_then_decay():
    from sparring.training.learner import lr_factor

    assert [lr_factor(s) for s in (0, 5, 500)] == [1.0, 1.0, 1.0]
    assert [lr_factor(s, warmup_steps=4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    linear = [lr_factor(s, decay="linear", decay_steps=10, min_ratio=0.1) for s in (0, 5, 10, 20)]
    assert linear == pytest.approx([1.0, 0.55, 0.1, 0.1])
    cosine = [lr_factor(s, decay="cosine", decay_steps=10) for s in (0, 5, 10)]
    assert cosine == pytest.approx([1.0, 0.5, 0.0])


def test_decay_reaches_the_learner_from_the_config(tiny_model):
    learner = learner_for(tiny_model, decay="linear", decay_steps=4, min_lr_ratio=0.25)
    lrs = []
    for _ in range(5):
        lrs.append(learner.optimizer.param_groups[0]["lr"])
        learner.optimizer.step()  # no gradients: a no-op, but in the order torch expects
        learner.scheduler.step()
    assert lrs == pytest.approx([1e-3, 8.125e-4, 6.25e-4, 4.375e-4, 2.5e-4])


def test_minibatches_split_the_samples_and_step_once_each(tiny_model, tokenizer, generations):
    samples = make_samples(generations, ADVANTAGES)
    batches = batching.build(samples, micro_batch_size=2, pad_id=tokenizer.pad_token_id, minibatches=2, seed=3)
    by_minibatch: dict[int, list] = {}
    for mb in batches:
        by_minibatch.setdefault(mb.minibatch, []).append(mb)
    assert sorted(by_minibatch) == [0, 1]
    assert [sum(len(mb.advantages) for mb in g) for g in by_minibatch.values()] == [4, 4]
    # each minibatch carries its own totals, so its loss is the mean over its own samples
    for group in by_minibatch.values():
        assert {mb.total_sequences for mb in group} == {4}
        assert {mb.total_tokens for mb in group} == {int(sum(mb.loss_mask.sum() for mb in group))}
    dealt = sorted(float(a) for mb in batches for a in mb.advantages)
    assert dealt == sorted(ADVANTAGES)  # every sample exactly once
    learner = learner_for(tiny_model, learning_rate=1e-3)
    learner.update(batches)
    state = next(iter(learner.optimizer.state_dict()["state"].values()))
    assert int(state["step"]) == 2  # two optimizer steps, one scheduler step
    assert learner.scheduler.last_epoch == 1


@pytest.fixture
def one_thread():
    """The plain and the TIS update compute one gradient along two code paths; with several threads
    their reductions split differently, and Adam's normalisation can turn a rounding-level gradient
    difference on a near-zero element into a visible step (2e-6 at two threads, against atol 1e-6).
    At one thread the two agree within the tolerance."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_logprob_mismatch_is_measured_and_tis_corrects_for_it(tiny_model, generations, one_thread):
    """perf/logprob_mismatch is the mean |learner - engine| log-prob before the update; with
    tis_cap the ratio is taken against the learner's own log-probs and tokens are reweighted by
    min(p_learner / p_engine, cap): with no mismatch that is exactly the plain update."""
    samples = make_samples(generations, ADVANTAGES)
    (mb,) = batching.build(samples, micro_batch_size=64, pad_id=0)
    a, b = copy.deepcopy(tiny_model), copy.deepcopy(tiny_model)
    plain = learner_for(a).update([mb])
    assert plain["perf/logprob_mismatch"] < 1e-4  # the engine computed the learner's numbers
    tis = learner_for(b, tis_cap=2.0).update([mb])
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5)
    assert tis["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-5)

    noisy = make_samples(generations, ADVANTAGES, logprob_noise=0.5, seed=3)
    (nb,) = batching.build(noisy, micro_batch_size=64, pad_id=0)
    off = learner_for(copy.deepcopy(tiny_model)).update([nb])
    assert 0.25 < off["perf/logprob_mismatch"] < 0.6  # E|N(0, 0.5)| = 0.40
    learner = learner_for(copy.deepcopy(tiny_model), tis_cap=1.5)
    weighted = learner._behaviour(nb)
    w = weighted.token_weights[nb.loss_mask.bool()]
    assert w.max() <= 1.5 + 1e-6 and w.min() < 0.9  # capped above, and below 1 where the engine was likelier
    assert weighted.engine_logprobs is nb.old_logprobs
    assert learner.update([nb])["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # against the learner's own
