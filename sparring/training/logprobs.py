"""Log-probs and entropy of the sampled tokens without materialising (B, T, V) logits.

A real vocabulary makes the full logits the largest tensor of an update: 128 sequences x 1,024
tokens x 151,936 entries x 4 bytes is ~80 GB, held several times over (logits, their float32 copy,
the log-softmax kept for the backward pass). Here the model body runs once; the LM head, softmax,
gather and entropy then run over the trained positions only, `chunk_tokens` at a time. The
forward keeps only each chunk's outputs; the backward recomputes one chunk's logits at a time
and, for the usual bias-free linear head, writes the gradient straight into one weight-gradient
buffer (`_LinearHeadLogprobs`, the fused approach of Liger Kernel's linear cross-entropy). Other
heads fall back to activation checkpointing per chunk. Peak memory of this step is one chunk's
logits instead of all of them; the numbers equal the plain computation
(tests/training/test_logprobs.py).
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from sparring.agents.kv_cache import plain_kv_layers


def lm_parts(model):
    """(body, head, softcap) of a causal LM: the decoder returning hidden states, the output
    projection, and the final logit soft-capping some models apply (Gemma 2; None when absent).
    PEFT models are unwrapped; their LoRA layers live inside these modules and stay active."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    scaled = {k: getattr(base.config, k, None) for k in ("logits_scaling", "logit_scale")}
    if any(v not in (None, 1, 1.0) for v in scaled.values()):
        raise NotImplementedError(f"{type(base).__name__} rescales its logits ({scaled}); sparring's log-probs "
                                  "project hidden states with the LM head alone and would differ from the model's")
    body, head = base.get_decoder(), base.get_output_embeddings()
    if body is None or head is None:
        raise TypeError(f"{type(base).__name__} exposes no decoder / output embeddings; sparring needs a "
                        "transformers causal LM (get_decoder() and get_output_embeddings())")
    return body, head, getattr(base.config, "final_logit_softcapping", None)


def _chunk(head, hidden, targets, temperature: float, softcap, with_entropy: bool):
    logits = head(hidden).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    logits = logits / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if not with_entropy:
        return logp, None
    return logp, -(logp_all.exp() * logp_all).sum(-1)


class _LinearHeadLogprobs(torch.autograd.Function):
    """Log-probs of `targets` and entropies under softmax(softcap(hidden @ weight.T) / T), chunked;
    the backward pass recomputes each chunk and differentiates analytically:
    d logp_t / dz = onehot(t) - p,  d H / dz = -p * (log p + H)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, temperature, softcap, chunk, with_entropy):
        logps, entropies = [], []
        for start in range(0, hidden.shape[0], chunk):  # in place where possible: two (chunk, V) at most
            logp_all = torch.log_softmax(_scaled_logits(hidden[start:start + chunk], weight, temperature, softcap), -1)
            logps.append(logp_all.gather(-1, targets[start:start + chunk].unsqueeze(-1)).squeeze(-1))
            if with_entropy:  # not asked for (reference model, TIS): two (chunk, V) passes saved
                entropies.append(logp_all.exp().mul_(logp_all).sum(-1).neg_())
            del logp_all
        ctx.save_for_backward(hidden, weight, targets)
        ctx.settings = (temperature, softcap, chunk, with_entropy)
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return (torch.cat(logps) if logps else empty), (torch.cat(entropies) if entropies else empty)

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        hidden, weight, targets = ctx.saved_tensors
        temperature, softcap, chunk, with_entropy = ctx.settings
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) \
            if ctx.needs_input_grad[1] else None
        for start in range(0, hidden.shape[0], chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            g_logp = grad_logp[start:start + chunk, None]
            logits = (h @ weight.T).float()
            capped = logits.div_(softcap).tanh_() if softcap else None
            logp_all = torch.log_softmax((capped * softcap if softcap else logits).div_(temperature), -1)
            del logits
            grad = logp_all.exp()
            if with_entropy:
                g_ent = grad_entropy[start:start + chunk, None]
                entropy = (grad * logp_all).sum(-1, keepdim=True).neg_()
                grad.mul_(logp_all.add_(entropy).mul_(g_ent).add_(g_logp)).neg_()  # -p * (g_logp + g_ent (log p + H))
            else:
                grad.mul_(g_logp).neg_()  # -p * g_logp
            del logp_all
            grad.scatter_add_(-1, t.unsqueeze(-1), g_logp)  # + g_logp * onehot(t)
            grad.div_(temperature)
            if softcap:
                grad.mul_(1.0 - capped * capped)
                del capped
            grad = grad.to(weight.dtype)
            if grad_hidden is not None:
                grad_hidden[start:start + chunk] = grad @ weight
            if grad_weight is not None:
                if weight.dtype == torch.float32:
                    grad_weight.addmm_(grad.T, h)
                else:
                    grad_weight.add_(grad.T @ h)
        grad_weight = grad_weight.to(weight.dtype) if grad_weight is not None else None
        return grad_hidden, grad_weight, None, None, None, None, None


def _scaled_logits(hidden, weight, temperature: float, softcap):
    logits = (hidden @ weight.T).float()  # a fresh tensor: scaled in place
    if softcap:
        logits = logits.div_(softcap).tanh_().mul_(softcap)
    return logits.div_(temperature)


def sampled_logprobs(head, hidden: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0,
                     with_entropy: bool = False, chunk_tokens: int = 512, softcap: float | None = None):
    """Log-prob of `targets` (N,) under `head(hidden)` (hidden: (N, H)) and optionally the entropy,
    computed `chunk_tokens` rows at a time; temperature <= 0 means 1 (greedy sampling)."""
    temperature = temperature if temperature > 0 else 1.0
    if isinstance(head, torch.nn.Linear) and head.bias is None:
        logp, entropy = _LinearHeadLogprobs.apply(hidden, head.weight, targets, temperature, softcap, chunk_tokens,
                                                  with_entropy)
        return logp, entropy if with_entropy else None
    logps, entropies = [], []
    grad = torch.is_grad_enabled() and (hidden.requires_grad or any(p.requires_grad for p in head.parameters()))
    for start in range(0, hidden.shape[0], chunk_tokens):
        h, t = hidden[start:start + chunk_tokens], targets[start:start + chunk_tokens]
        if grad:
            logp, ent = checkpoint(_chunk, head, h, t, temperature, softcap, with_entropy, use_reentrant=False)
        else:
            logp, ent = _chunk(head, h, t, temperature, softcap, with_entropy)
        logps.append(logp)
        entropies.append(ent)
    logp = torch.cat(logps) if logps else hidden.new_zeros(0, dtype=torch.float32)
    entropy = (torch.cat(entropies) if entropies else torch.zeros_like(logp)) if with_entropy else None
    return logp, entropy


def left_padded(prompts, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, attention mask, position ids) of token-id sequences left-padded to one width, so that
    every sequence ends at the last position (where its final hidden state is read)."""
    width = max(len(p) for p in prompts)
    ids = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, device=device)
        mask[i, width - len(p):] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def token_logprobs(model, input_ids, attention_mask, temperature: float, with_entropy: bool = False,
                   loss_mask=None, chunk_tokens: int = 512, prompt_lengths=None):
    """Log-probs of each next token (B, L-1) and, optionally, the entropy at each position.

    With `loss_mask` (B, L-1) only the masked positions go through the LM head (prompts are most
    of each sequence and need no logits); other positions are 0 in the result (every loss term
    masks them out anyway). Without it every position is computed. With `prompt_lengths` (B,) a
    third result: the final hidden state at each row's last prompt token (the critic's state).
    """
    body, head, softcap = lm_parts(model)
    hidden = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state[:, :-1]
    state = None
    if prompt_lengths is not None:
        state = hidden[torch.arange(hidden.shape[0], device=hidden.device), prompt_lengths.to(hidden.device) - 1]
    if loss_mask is None:
        loss_mask = torch.ones(hidden.shape[:2], device=hidden.device)
    where = loss_mask.to(hidden.device) > 0
    logp_flat, ent_flat = sampled_logprobs(head, hidden[where], input_ids[:, 1:][where], temperature, with_entropy,
                                           chunk_tokens, softcap)
    logp = torch.zeros(hidden.shape[:2], device=hidden.device, dtype=torch.float32)
    logp = logp.masked_scatter(where, logp_flat)
    entropy = None
    if with_entropy:
        entropy = torch.zeros_like(logp).masked_scatter(where, ent_flat)
    return (logp, entropy) if state is None else (logp, entropy, state)


def shared_prompt_logprobs(model, input_ids, attention_mask, prompt_lengths, temperature: float,
                           with_entropy: bool = False, loss_mask=None, chunk_tokens: int = 512,
                           with_state: bool = False):
    """`token_logprobs` for right-padded prompt + completion rows, running each distinct prompt once.

    GRPO groups and repeated game positions put the same prompt in many rows; the prompt is often
    most of each row's tokens. The distinct prompts run once (left-padded, with their KV cache),
    the cache is expanded to the rows, and only the completions run per row; gradients flow back
    through the shared cache into the prompt pass. Same result as `token_logprobs` at the trained
    (completion) positions (tested; prompt positions are 0 here); `with_state`: also each row's final
    hidden state at its last prompt token, as `token_logprobs` gives it; None when the rows share too little
    to gain, or the model's cache is not plain K/V per layer (hybrid / recurrent models): the caller
    then runs the plain path.
    """
    rows = input_ids.shape[0]
    lengths = prompt_lengths.tolist()
    totals = attention_mask.sum(-1).tolist()
    id_rows = input_ids.tolist()  # one transfer, not one per row
    keys = [tuple(id_rows[i][:lengths[i]]) for i in range(rows)]
    distinct = list(dict.fromkeys(keys))
    if len(distinct) > 0.75 * rows or max(t - p for t, p in zip(totals, lengths)) <= 0:
        return None
    body, head, softcap = lm_parts(model)
    device = input_ids.device
    prompt_ids, prompt_mask, positions = left_padded(distinct, device)
    out = body(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions, use_cache=True)
    cache = out.past_key_values
    layers = plain_kv_layers(cache)
    if layers is None:
        return None  # quantized / hybrid / recurrent layers (no plain K/V to expand): the plain path
    owner = torch.tensor([distinct.index(k) for k in keys], device=device)
    for layer in layers:
        layer.keys, layer.values = layer.keys.index_select(0, owner), layer.values.index_select(0, owner)
    # the completions, right-padded, after their row's prompt
    completion_len = max(t - p for t, p in zip(totals, lengths))
    comp_ids = torch.zeros((rows, completion_len), dtype=torch.long, device=device)
    comp_mask = torch.zeros((rows, completion_len), dtype=torch.long, device=device)
    for i in range(rows):
        c = totals[i] - lengths[i]
        comp_ids[i, :c] = input_ids[i, lengths[i]:lengths[i] + c]
        comp_mask[i, :c] = 1
    comp_positions = prompt_lengths.to(device).unsqueeze(-1) + torch.arange(completion_len, device=device)
    comp_positions = comp_positions.masked_fill(comp_mask == 0, 0)  # padding: no position past the row's end
    comp_hidden = body(input_ids=comp_ids, attention_mask=torch.cat([prompt_mask[owner], comp_mask], dim=-1),
                       position_ids=comp_positions, past_key_values=cache, use_cache=True).last_hidden_state
    # hidden state predicting completion token j: the prompt's last for j = 0, completion j - 1 after
    hidden = torch.cat([out.last_hidden_state[owner, -1:], comp_hidden[:, :-1]], dim=1)  # (rows, C, H)
    # positions of the usual (B, L-1) layout: completion token j of row i is target p_i - 1 + j
    if loss_mask is None:
        loss_mask = attention_mask[:, 1:].float()
    layout = prompt_lengths.to(device).unsqueeze(-1) - 1 + torch.arange(completion_len, device=device)
    layout = layout.clamp(max=input_ids.shape[1] - 2)
    wanted = loss_mask.to(device).gather(1, layout) * comp_mask > 0
    logp_flat, ent_flat = sampled_logprobs(head, hidden[wanted], comp_ids[wanted], temperature, with_entropy,
                                           chunk_tokens, softcap)
    shape = (rows, input_ids.shape[1] - 1)
    index = layout[wanted] + torch.arange(rows, device=device).unsqueeze(-1).expand_as(layout)[wanted] * shape[1]
    logp = torch.zeros(rows * shape[1], device=device, dtype=torch.float32).index_put((index,), logp_flat).view(shape)
    entropy = None
    if with_entropy:
        entropy = torch.zeros(rows * shape[1], device=device, dtype=torch.float32).index_put((index,), ent_flat).view(shape)
    return (logp, entropy, out.last_hidden_state[owner, -1]) if with_state else (logp, entropy)
