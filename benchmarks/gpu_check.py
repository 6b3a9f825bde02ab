"""GPU check: rollout and learner throughput of a Qwen3-0.6B-shaped model on one CUDA GPU.

Builds a random-init model with Qwen3-0.6B's shape (no download) in bfloat16 on the GPU, then
runs `--steps` RL steps the way the trainer does, with realistic lengths: the HF engine samples
`--sequences` completions of `--new-tokens` tokens (random prompts of `--prompt-tokens`; a random
model rarely stops early), each gets a random advantage, and the learner (float32 masters, chunked
log-probs) takes one update on them; the engine serves the learner's weights. The first step is
a warm-up and is not counted. Prints generation tokens/s, learner tokens/s and learner MFU: model
FLOPs of the update (6 x non-embedding parameters per token, the causal attention scores, and the
LM head on the trained tokens) per second over the GPU's dense bf16 peak (`--peak-tflops`, known
for H100/H200/A100/L40S). Budget: well under 8 minutes on one H200. Exits with a message (code
2) on a machine without CUDA; `--cpu-smoke` runs the plumbing on the CPU at a toy size instead
(its figures mean nothing; CI uses it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def update_flops(cfg, sequences: list[tuple[int, int]]) -> float:
    """Forward + backward FLOPs of one update over (prompt, completion) lengths."""
    h, layers, vocab = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    attn_dim = cfg.num_attention_heads * cfg.head_dim
    kv_dim = cfg.num_key_value_heads * cfg.head_dim
    per_layer = h * attn_dim + 2 * h * kv_dim + attn_dim * h + 3 * h * cfg.intermediate_size
    total = 0.0
    for prompt, completion in sequences:
        length = prompt + completion
        total += 6 * layers * per_layer * length  # matmuls, forward (2) + backward (4)
        total += 6 * layers * attn_dim * length * length  # QK^T and AV, causal (half of 12)
        total += 6 * h * vocab * completion  # the LM head on trained tokens only
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3, help="RL steps after one warm-up step")
    ap.add_argument("--sequences", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=512)
    ap.add_argument("--micro-batch", type=int, default=16, help="optim.micro_batch_size")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak (default: by name)")
    ap.add_argument("--cpu-smoke", action="store_true", help="toy size on the CPU: checks the plumbing only")
    args = ap.parse_args()

    import torch

    from _shapes import random_qwen3
    from sparring.agents.hf_engine import HFEngine
    from sparring.config import LossConfig, OptimConfig
    from sparring.training import batching
    from sparring.training.learner import Learner
    from sparring.types import Sample, SamplingParams

    if args.cpu_smoke:
        device, shape = torch.device("cpu"), dict(layers=1, hidden_size=64, intermediate_size=128, head_dim=16,
                                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=2048)
        args.sequences, args.prompt_tokens, args.new_tokens, args.steps = 4, 8, 6, 1
    elif not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible to torch "
              f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); nothing to measure. "
              "Run it on a machine with an NVIDIA GPU (or --cpu-smoke to check the plumbing).")
        raise SystemExit(2)
    else:
        device, shape = torch.device("cuda"), {}
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops or peak_tflops(gpu)

    model = random_qwen3(**shape).to(device=device, dtype=torch.bfloat16)
    model.config.eos_token_id = model.config.pad_token_id = 0

    class _Tok:  # the engine needs ids only; decoding text is not measured
        eos_token_id = pad_token_id = 0

        @staticmethod
        def decode(ids, skip_special_tokens=True):
            return ""

    learner = Learner(model, OptimConfig(learning_rate=1e-6, micro_batch_size=args.micro_batch), LossConfig())
    engine = HFEngine(model, _Tok(), max_batch_size=args.sequences)
    sampling = SamplingParams(args.new_tokens, 1.0, 1.0)
    g = torch.Generator().manual_seed(0)
    gen_tokens = gen_s = learn_tokens = learn_s = flops = 0.0
    for step in range(args.steps + 1):
        prompts = torch.randint(1, model.config.vocab_size, (args.sequences, args.prompt_tokens), generator=g).tolist()
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        gens = engine.generate_batch(prompts, sampling)
        sync()
        t1 = time.perf_counter()
        samples = [Sample(x.prompt_ids, x.completion_ids, x.logprobs, float(a), float(a), "r", ("gpu", "r"))
                   for x, a in zip(gens, torch.randn(len(gens), generator=g))]
        learner.update(batching.build(samples, args.micro_batch, pad_id=0, merge=False))
        sync()
        t2 = time.perf_counter()
        new = sum(len(x.completion_ids) for x in gens)
        print(f"step {step}{' (warm-up)' if step == 0 else ''}: generate {new} tokens in {t1 - t0:.1f} s, "
              f"update in {t2 - t1:.1f} s", flush=True)
        if step == 0:
            continue
        gen_tokens += new
        gen_s += t1 - t0
        learn_tokens += sum(len(x.prompt_ids) + len(x.completion_ids) for x in gens)
        learn_s += t2 - t1
        flops += update_flops(model.config, [(len(x.prompt_ids), len(x.completion_ids)) for x in gens])
    print(f"gpu: {gpu}; model: random Qwen3-0.6B shape, bf16 weights + fp32 masters; "
          f"{args.sequences} sequences x {args.prompt_tokens}+{args.new_tokens} tokens, {args.steps} steps")
    if device.type == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    print(f"generation_tokens_per_s={gen_tokens / gen_s:.0f}")
    print(f"learner_tokens_per_s={learn_tokens / learn_s:.0f}")
    achieved = flops / learn_s / 1e12
    if peak:
        print(f"learner_tflops={achieved:.1f} of peak {peak:.0f}")
        print(f"learner_mfu={achieved / peak:.3f}")
    else:
        print(f"learner_tflops={achieved:.3f} (no bf16 peak known for {gpu!r}: pass --peak-tflops for MFU)")


if __name__ == "__main__":
    main()
