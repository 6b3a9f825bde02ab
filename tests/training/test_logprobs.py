"""Chunked log-probs and entropy equal the plain full-logits computation, values and gradients,
at a real vocabulary size (Qwen3's 151,936)."""

from __future__ import annotations

import copy

import pytest
import torch

from sparring.training.logprobs import sampled_logprobs, token_logprobs

VOCAB = 151_936


def _plain(head, hidden, targets, temperature):
    logits = head(hidden).float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@pytest.mark.parametrize("temperature,fused", [(1.0, True), (0.7, True), (0.7, False)])
def test_chunked_logprobs_and_entropy_equal_the_plain_computation_at_vocab_151936(temperature, fused):
    """fused: a bias-free linear head (analytic backward into one gradient buffer); otherwise a
    head with a bias takes the checkpointed path."""
    torch.manual_seed(0)
    head = torch.nn.Linear(32, VOCAB, bias=not fused)
    with torch.no_grad():
        head.weight.mul_(5.0)  # logits with a std of ~3 nats, as a trained model's
    hidden = torch.randn(300, 32, requires_grad=True)
    targets = torch.randint(0, VOCAB, (300,))

    want_logp, want_ent = _plain(head, hidden, targets, temperature)
    logp, ent = sampled_logprobs(head, hidden, targets, temperature, with_entropy=True, chunk_tokens=64)
    assert want_ent.std() > 0.1 and want_logp.std() > 0.5  # not a flat distribution
    torch.testing.assert_close(logp, want_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(ent, want_ent, atol=1e-5, rtol=0)

    # gradients against the plain computation in float64 (float32 itself is ~2e-5 off at this size)
    (logp.sum() + 0.3 * ent.sum()).backward()
    head64 = copy.deepcopy(head).double()
    hidden64 = hidden.detach().double().requires_grad_()
    want_logp, want_ent = _plain(head64, hidden64, targets, temperature)
    (want_logp.sum() + 0.3 * want_ent.sum()).backward()
    assert hidden64.grad.abs().max() > 0.5
    torch.testing.assert_close(hidden.grad.double(), hidden64.grad, atol=1e-4, rtol=0)
    torch.testing.assert_close(head.weight.grad.double(), head64.weight.grad, atol=1e-4, rtol=0)


def test_token_logprobs_through_a_model_equal_the_full_logits(tiny_model):
    """Only masked positions reach the head; they equal the log-softmax of the full logits."""
    torch.manual_seed(1)
    ids = torch.randint(3, tiny_model.config.vocab_size, (3, 12))
    attn = torch.ones_like(ids)
    attn[2, 9:] = 0  # a right-padded row
    mask = torch.zeros(3, 11)
    mask[0, 4:] = 1
    mask[1, 7:] = 1
    mask[2, 5:8] = 1
    with torch.no_grad():
        logits = tiny_model(input_ids=ids, attention_mask=attn).logits[:, :-1].float() / 0.8
        logp_all = torch.log_softmax(logits, -1)
        want = logp_all.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        want_ent = -(logp_all.exp() * logp_all).sum(-1)
        logp, ent = token_logprobs(tiny_model, ids, attn, 0.8, with_entropy=True, loss_mask=mask, chunk_tokens=5)
    on = mask.bool()
    torch.testing.assert_close(logp[on], want[on], atol=1e-5, rtol=0)
    torch.testing.assert_close(ent[on], want_ent[on], atol=1e-5, rtol=0)
    assert (logp[~on] == 0).all() and (ent[~on] == 0).all()


def test_shared_prompt_forward_equals_the_plain_one_values_and_gradients(tiny_model):
    """Rows sharing prompts (of different lengths), ragged completions: running each distinct
    prompt once through its KV cache gives the plain path's log-probs, entropies and gradients."""
    from sparring.training.logprobs import shared_prompt_logprobs

    g = torch.Generator().manual_seed(0)
    vocab = tiny_model.config.vocab_size
    prompts = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in (7, 11)]
    rows = [(prompts[i % 2], torch.randint(3, vocab, (2 + i,), generator=g).tolist()) for i in range(6)]
    width = max(len(p) + len(c) for p, c in rows)
    ids = torch.zeros(6, width, dtype=torch.long)
    attn = torch.zeros(6, width, dtype=torch.long)
    mask = torch.zeros(6, width - 1)
    for i, (p, c) in enumerate(rows):
        ids[i, :len(p) + len(c)] = torch.tensor(p + c)
        attn[i, :len(p) + len(c)] = 1
        mask[i, len(p) - 1:len(p) - 1 + len(c)] = 1
    lengths = torch.tensor([len(p) for p, _ in rows])

    want, want_ent = token_logprobs(tiny_model, ids, attn, 0.8, True, mask)
    (want.sum() + want_ent.sum()).backward()
    want_grads = [p.grad.clone() for p in tiny_model.parameters()]
    tiny_model.zero_grad(set_to_none=True)
    got, got_ent = shared_prompt_logprobs(tiny_model, ids, attn, lengths, 0.8, True, mask)
    (got.sum() + got_ent.sum()).backward()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_ent, want_ent, atol=1e-5, rtol=0)
    for p, w in zip(tiny_model.parameters(), want_grads):
        torch.testing.assert_close(p.grad, w, atol=1e-5, rtol=1e-4)
    assert want_grads[0].abs().sum() > 0
    # rows that share nothing: no gain, the caller takes the plain path
    assert shared_prompt_logprobs(tiny_model, ids[:2], attn[:2], lengths[:2], 0.8, False, mask[:2]) is None


@pytest.mark.parametrize("fused", [True, False])
def test_logprobs_without_entropy_have_the_plain_gradients(fused):
    """The reference / TIS passes ask for log-probs only; their gradients match float64 too."""
    torch.manual_seed(2)
    head = torch.nn.Linear(16, 5000, bias=not fused)
    with torch.no_grad():
        head.weight.mul_(5.0)
    hidden = torch.randn(70, 16, requires_grad=True)
    targets = torch.randint(0, 5000, (70,))
    logp, ent = sampled_logprobs(head, hidden, targets, 0.9, with_entropy=False, chunk_tokens=16)
    assert ent is None
    logp.sum().backward()
    head64 = copy.deepcopy(head).double()
    hidden64 = hidden.detach().double().requires_grad_()
    want, _ = _plain(head64, hidden64, targets, 0.9)
    torch.testing.assert_close(logp, want.detach(), atol=1e-5, rtol=0)
    want.sum().backward()
    torch.testing.assert_close(hidden.grad.double(), hidden64.grad, atol=1e-4, rtol=0)
    torch.testing.assert_close(head.weight.grad.double(), head64.weight.grad, atol=1e-4, rtol=0)
