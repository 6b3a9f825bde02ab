"""HF transformers inference backend behind the shared async batching front (batching_front.py):
each batch of gathered requests is left-padded and run through `model.generate`.

The engine serves the very model it is given, on that model's device: the trainer hands it the
learner's model, so rollouts and updates share one copy of the weights (LoRA adapters included,
unmerged) and `load_weights` after an update has nothing to copy. Log-probs of the sampled tokens
are taken step by step as generation runs (`_SampledLogprobs`), so no (B, T, V) stack of logits
is ever kept: at a 151,936-token vocabulary that stack is ~40 GB for 128 x 1,024 tokens in bf16.
"""

from __future__ import annotations

import contextlib
import copy
import logging

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from sparring.agents.batching_front import BatchingFront
from sparring.agents.kv_cache import plain_kv_layers
from sparring.types import Generation, SamplingParams

log = logging.getLogger(__name__)


class _SampledLogprobs(LogitsProcessor):
    """Records, at every decoding step, the log-prob of the token sampled at the step before.

    Custom processors run before generate's temperature and top-p warpers, so `scores` are the
    model's raw logits; log-probs are taken under `temperature` only (top-p truncation is not in
    them, exactly as the learner computes them). Keeps one (B, V) row of log-probs at a time.
    """

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature
        self.previous: torch.Tensor | None = None
        self.logprobs: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self._record(input_ids[:, -1])
        self.previous = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def _record(self, sampled: torch.Tensor) -> None:
        if self.previous is not None:
            self.logprobs.append(self.previous.gather(-1, sampled.unsqueeze(-1)).squeeze(-1))

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """(B, T) log-probs of the T generated tokens, the last one gathered from `sequences`."""
        self._record(sequences[:, -1])
        self.previous = None
        return torch.stack(self.logprobs, dim=1)


class _SeededSampler(LogitsProcessor):
    """Samples every row from its own generator (engine.seeded_sampling), by Gumbel-max.

    Generation runs greedy; this processor turns the raw logits of each row into
    logits / T (top-p truncated) + Gumbel noise drawn from that row's generator, whose argmax is a
    sample of softmax(logits / T) over the nucleus. A row's k-th token uses the k-th draw of its
    own generator, so what it samples does not depend on the other rows of the batch. The
    generators live on the logits' device, so a CPU and a GPU run draw different streams. Runs
    after `_SampledLogprobs`, which records log-probs from the untouched logits.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float) -> None:
        self.seeds = seeds
        self.generators: list[torch.Generator] | None = None  # on the logits' device, made at the first token
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logits = scores.float() / self.temperature
        if self.top_p < 1:
            logits = _nucleus(logits, self.top_p)
        if self.generators is None:  # noise drawn where the logits are: no host-to-GPU copy per token
            self.generators = [torch.Generator(device=logits.device).manual_seed(s) for s in self.seeds]
        width = logits.shape[-1]
        uniform = torch.stack([torch.rand(width, generator=g, device=logits.device) for g in self.generators])
        return logits - torch.log(-torch.log(uniform.clamp_min(1e-20)))


def _nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """`logits` with every token outside the top-p nucleus of its row set to -inf: the smallest
    set of most likely tokens whose mass reaches top_p (the most likely token always stays)."""
    ordered, order = logits.sort(dim=-1, descending=True, stable=True)
    probs = ordered.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass ranked above each token
    drop = before >= top_p
    drop[..., 0] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


class HFEngine(BatchingFront):
    """A transformers causal LM served to many concurrent episodes.

    `model` is served as given, not copied: pass a copy (or a separately loaded model) to serve
    weights that must not follow the learner, as frozen opponents do."""

    def __init__(self, model, tokenizer, max_batch_size: int = 256, gather_rounds: int = 3,
                 generate_in_thread: bool = False, stop_tokens: list[str] = (), seeded: bool = False) -> None:
        self.model = model
        self.tokenizer = tokenizer
        super().__init__(max_batch_size, gather_rounds, generate_in_thread, seeded)
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.stop_ids = end_of_turn_ids(model, tokenizer, stop_tokens)  # any of them ends a turn
        # generate() fills unset fields from the model's own generation config (hub models ship
        # repetition_penalty, top_k, ...), which would sample from a distribution other than
        # the logits we report: a neutral one is swapped in while the engine generates.
        self._neutral_config = GenerationConfig(eos_token_id=self.stop_ids, pad_token_id=self.pad_id)

    # ----- raw batched generation ---------------------------------------------------------
    @torch.inference_mode()
    def generate_batch(self, prompts: list[list[int]], sampling: SamplingParams,
                       seeds: list[int | None] | None = None) -> list[Generation]:
        """`seeds`: sample each row from its own generator (rows without one draw a seed from
        torch's global RNG); None: transformers' own sampling from the global RNG."""
        import time

        if not prompts:
            return []
        t0 = time.perf_counter()
        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: new tokens line up at the right edge
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        greedy = sampling.temperature <= 0
        processors = LogitsProcessorList([_SampledLogprobs(1.0 if greedy else sampling.temperature)])
        seeded = seeds is not None and not greedy
        if seeded:  # greedy decoding of Gumbel-perturbed logits: a sample from each row's own stream
            seeds = [int(torch.randint(2**62, ())) if s is None else s for s in seeds]
            processors.append(_SeededSampler(seeds, sampling.temperature, sampling.top_p))
        own_sampling = not greedy and not seeded
        gen_config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=own_sampling,
            temperature=sampling.temperature if own_sampling else None,
            top_p=sampling.top_p if own_sampling else None,
            top_k=0,  # 0 turns off transformers' default top-k of 50: sample from the distribution we report
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        ids, mask = ids.to(device), mask.to(device)
        with self._generating():
            cache = self._shared_prompt_cache(prompts, ids, mask)
            sequences = self.model.generate(input_ids=ids, attention_mask=mask, past_key_values=cache,
                                            generation_config=gen_config, logits_processor=processors)
        new = sequences[:, width:].cpu()
        logprobs = processors[0].finish(sequences).cpu()
        results = []
        for i, p in enumerate(prompts):
            row = new[i].tolist()
            stop = next((k for k, t in enumerate(row) if t in self.stop_ids), None)
            if stop is not None:
                n, reason = stop + 1, "stop"
            else:
                n, reason = len(row), "length"
            completion = row[:n]
            results.append(
                Generation(
                    prompt_ids=list(p),
                    completion_ids=completion,
                    logprobs=logprobs[i, :n].tolist(),
                    text=self.tokenizer.decode(completion, skip_special_tokens=True),
                    finish_reason=reason,
                )
            )
            self.stats.generated_tokens += n
        self.stats.batches += 1
        self.stats.sequences += len(prompts)
        self.stats.busy_s += time.perf_counter() - t0
        return results

    def _shared_prompt_cache(self, prompts: list[list[int]], ids: torch.Tensor, mask: torch.Tensor):
        """The KV cache of every row's prompt but its last token, each distinct prompt run once.

        Game positions recur across episodes and GRPO groups repeat one prompt, and the prompt is
        most of the work of a short completion (Kuhn Poker: 128 rows of 93 tokens, 3 distinct
        prompts; the prefill was 0.40 s of a 0.48 s generate call). Rows of one prompt get copies of
        its cache; `generate` then runs only the last prompt token onwards. None (plain generate)
        when rows share too little to gain or the model's cache is not plain K/V per layer.
        """
        keys = [tuple(p) for p in prompts]
        first_row: dict[tuple, int] = {}  # each distinct prompt -> the first row holding it
        for row, key in enumerate(keys):
            first_row.setdefault(key, row)
        if len(first_row) > 0.75 * len(prompts) or ids.shape[1] < 2:
            return None
        first = torch.tensor(list(first_row.values()), device=ids.device)
        prefix_mask = mask[first, :-1]  # same padded width as the batch, so the cache lines up with `ids`
        positions = (prefix_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids[first, :-1], attention_mask=prefix_mask, position_ids=positions,
                         use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        if plain_kv_layers(cache) is None:
            return None  # quantized / hybrid / recurrent caches: plain generate
        slot = {key: n for n, key in enumerate(first_row)}  # row n of the prefill
        cache.reorder_cache(torch.tensor([slot[k] for k in keys], device=ids.device))
        return cache

    @contextlib.contextmanager
    def _generating(self):
        """Eval mode (no dropout; gradient checkpointing off, so the KV cache is used) and the
        neutral generation config, both restored afterwards: the model may be the learner's."""
        training, config = self.model.training, self.model.generation_config
        self.model.eval()
        self.model.generation_config = self._neutral_config
        try:
            yield
        finally:
            self.model.generation_config = config
            self.model.train(training)

    def load_weights(self, model) -> None:
        """Serve `model`'s weights: nothing to do when it is the served model (shared with the
        learner); otherwise copied in place (a PEFT source merged into a temporary copy)."""
        if model is self.model:
            return
        self.model.load_state_dict(_unwrap(model).state_dict())

def end_of_turn_ids(model, tokenizer, stop_tokens=()) -> list[int]:
    """Tokens that end a turn: the tokenizer's EOS first, then the model's own generation-config EOS
    ids (instruct models end turns with e.g. <end_of_turn>, not their tokenizer's EOS), then
    `engine.stop_tokens`."""
    ids = [tokenizer.eos_token_id]
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids += configured if isinstance(configured, list) else [configured] if configured is not None else []
    ids += [_token_id(tokenizer, t) for t in stop_tokens]
    return list(dict.fromkeys(i for i in ids if i is not None))


def _token_id(tokenizer, token: str) -> int:
    """The id of a single token named in `engine.stop_tokens`; an error names it otherwise."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"engine.stop_tokens: {token!r} is not one token of this tokenizer (it encodes to {ids})")
    return ids[0]


def _unwrap(model):
    """A plain transformers model; PEFT models are merged into a copy."""
    if hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
    return model
