"""HF transformers inference backend with an asyncio batching scheduler.

Episodes call `await engine.generate(prompt, sampling)` one request at a time; a scheduler task
gathers every request that is pending, groups them by sampling settings, left-pads them into
batches of at most `max_batch_size` and runs `model.generate`. Every episode that is ready has
submitted before a batch is cut, so each batch holds all the work there is and the engine stays
saturated however many episodes run. Batch composition depends only on the order of requests,
so runs are reproducible under a seed.

The engine serves the very model it is given, on that model's device: the trainer hands it the
learner's model, so rollouts and updates share one copy of the weights (LoRA adapters included,
unmerged) and `load_weights` after an update has nothing to copy. Log-probs of the sampled tokens
are taken step by step as generation runs (`_SampledLogprobs`), so no (B, T, V) stack of logits
is ever kept: at a 151,936-token vocabulary that stack is ~40 GB for 128 x 1,024 tokens in bf16.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from sparring.types import Generation, SamplingParams

log = logging.getLogger(__name__)


@dataclass
class _Request:
    prompt_ids: list[int]
    sampling: SamplingParams
    future: asyncio.Future = field(repr=False)


@dataclass
class EngineStats:
    batches: int = 0
    sequences: int = 0
    generated_tokens: int = 0
    busy_s: float = 0.0


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


class HFEngine:
    """A transformers causal LM served to many concurrent episodes.

    `model` is served as given, not copied: pass a copy (or a separately loaded model) to serve
    weights that must not follow the learner, as frozen opponents do."""

    def __init__(self, model, tokenizer, max_batch_size: int = 256, gather_rounds: int = 3,
                 generate_in_thread: bool = False, stop_tokens: list[str] = ()) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.gather_rounds = gather_rounds
        # On the loop thread by default: a worker thread gets its own OpenMP team, which fights
        # the main thread's for the cores (measured: ~15% slower generate on 2 CPU cores). A
        # thread only helps when other coroutines (e.g. sandbox results) must progress meanwhile.
        self.generate_in_thread = generate_in_thread
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.stop_ids = [self.eos_id] + [_token_id(tokenizer, t) for t in stop_tokens]  # any ends a turn
        # generate() fills unset fields from the model's own generation config (hub models ship
        # repetition_penalty, top_k, ...), which would sample from a distribution other than
        # the logits we report: a neutral one is swapped in while the engine generates.
        self._neutral_config = GenerationConfig(eos_token_id=self.stop_ids, pad_token_id=self.pad_id)
        self.stats = EngineStats()
        self._queue: asyncio.Queue[_Request] | None = None
        self._server: asyncio.Task | None = None

    # ----- raw batched generation ---------------------------------------------------------
    @torch.inference_mode()
    def generate_batch(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
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
        gen_config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=0,  # 0 turns off transformers' default top-k of 50: sample from the distribution we report
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        recorder = _SampledLogprobs(1.0 if greedy else sampling.temperature)
        with self._generating():
            sequences = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                            generation_config=gen_config,
                                            logits_processor=LogitsProcessorList([recorder]))
        new = sequences[:, width:].cpu()
        logprobs = recorder.finish(sequences).cpu()
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

    # ----- async, batched front -----------------------------------------------------------
    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._server is None or self._server.done() or self._server.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._server = loop.create_task(self._serve())
        future = loop.create_future()
        await self._queue.put(_Request(list(prompt_ids), sampling, future))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            pending = [await self._queue.get()]
            # Let every episode that is ready submit before the batch is cut.
            quiet = 0
            while quiet < self.gather_rounds:
                await asyncio.sleep(0)
                before = len(pending)
                while not self._queue.empty():
                    pending.append(self._queue.get_nowait())
                quiet = quiet + 1 if len(pending) == before else 0
            by_sampling: dict[SamplingParams, list[_Request]] = {}
            for req in pending:
                by_sampling.setdefault(req.sampling, []).append(req)
            for sampling, reqs in by_sampling.items():
                for start in range(0, len(reqs), self.max_batch_size):
                    chunk = reqs[start:start + self.max_batch_size]
                    try:
                        prompts = [r.prompt_ids for r in chunk]
                        if self.generate_in_thread:
                            gens = await asyncio.to_thread(self.generate_batch, prompts, sampling)
                        else:
                            gens = self.generate_batch(prompts, sampling)
                    except Exception as e:  # the engine failed: every waiter hears it
                        for r in chunk:
                            if not r.future.done():
                                r.future.set_exception(e)
                        continue
                    for r, g in zip(chunk, gens):
                        if not r.future.done():
                            r.future.set_result(g)

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

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.cancel()
            try:
                await self._server
            except (asyncio.CancelledError, Exception):
                pass
            self._server = None
            self._queue = None


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
