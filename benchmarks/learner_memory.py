"""Learner memory: peak memory of one learner update, chunked log-probs against full logits.

A random-init model with Qwen3-0.6B's vocabulary (151,936) and width, a few layers, a batch of
4 sequences x 512 tokens (64 prompt + 448 completion tokens), on the CPU. Each variant runs in
its own fresh process: build the model and batch, run a tiny forward (one-time library
allocations), reset the peak and read the resident set (Linux
/proc), run one forward + loss + backward, read the peak resident set; the figure is peak - before (weights and their
gradients included in both). Variants:

  plain    the full-logits computation sparring used before: the model's (B, T, V) logits from
           the first completion position on, in float32, log-softmax, gather, entropy
  chunked  sparring.training.logprobs.token_logprobs: the head, softmax and entropy over the
           trained positions only, `--chunk` tokens at a time, checkpointed

Both give the same loss (printed). Last line: `learner_peak_memory_ratio=X` (chunked / plain).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _plain_logprobs(model, input_ids, attention_mask, loss_mask, temperature=1.0):
    """The pre-chunking computation (sparring <= 2026-12-02, training/loss.py token_logprobs)."""
    import torch

    width = input_ids.shape[1] - 1
    start = int(loss_mask.any(0).nonzero()[0])
    logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=width - start + 1).logits[:, :-1].float()
    logits = logits / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, input_ids[:, start + 1:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    pad = torch.nn.functional.pad
    return pad(logp, (start, 0)), pad(entropy, (start, 0))


def run_variant(variant: str, layers: int, batch: int, prompt: int, completion: int, chunk: int) -> dict:
    import torch

    from _shapes import random_qwen3
    from sparring.training.logprobs import token_logprobs
    from sparring.training.loss import policy_loss

    torch.set_num_threads(2)
    model = random_qwen3(layers=layers)
    model.train()
    g = torch.Generator().manual_seed(0)
    length = prompt + completion
    ids = torch.randint(0, model.config.vocab_size, (batch, length), generator=g)
    attn = torch.ones_like(ids)
    mask = torch.zeros(batch, length - 1)
    mask[:, prompt - 1:] = 1
    old = torch.full((batch, length - 1), -12.0)
    adv = torch.randn(batch, generator=g)
    with torch.no_grad():  # one-time allocations of the first forward (thread pools, kernels) are not the update's
        model(input_ids=ids[:1, :8])
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) left by building the model
    before = _rss_kb("VmRSS")
    if variant == "plain":
        logp, entropy = _plain_logprobs(model, ids, attn, mask)
    else:
        logp, entropy = token_logprobs(model, ids, attn, 1.0, with_entropy=True, loss_mask=mask, chunk_tokens=chunk)
    terms = policy_loss(logp, old, adv, mask, total_tokens=int(mask.sum()), total_sequences=batch, entropy=entropy)
    terms.loss.backward()
    peak = _rss_kb("VmHWM")
    return {"variant": variant, "peak_mb": (peak - before) / 1024, "loss": terms.loss.item(),
            "entropy": terms.entropy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--completion", type=int, default=448)
    ap.add_argument("--chunk", type=int, default=512, help="optim.logprob_chunk_tokens (its default)")
    ap.add_argument("--variant", choices=["plain", "chunked"], help=argparse.SUPPRESS)  # child process
    args = ap.parse_args()
    shape = (args.layers, args.batch, args.prompt, args.completion, args.chunk)
    if args.variant:
        print(json.dumps(run_variant(args.variant, *shape)))
        return
    results = {}
    for variant in ("plain", "chunked"):
        cmd = [sys.executable, __file__, "--variant", variant, "--layers", str(args.layers), "--batch", str(args.batch),
               "--prompt", str(args.prompt), "--completion", str(args.completion), "--chunk", str(args.chunk)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"model: random Qwen3, vocab 151,936, hidden 1024, {args.layers} layers; batch {args.batch} x "
          f"{args.prompt + args.completion} tokens ({args.completion} trained); chunk {args.chunk}")
    for variant, r in results.items():
        print(f"{variant:8s} peak {r['peak_mb']:8.0f} MB  loss {r['loss']:+.6f}  entropy {r['entropy']:.4f}")
    plain, chunked = results["plain"], results["chunked"]
    if abs(plain["loss"] - chunked["loss"]) > 1e-4 * max(1.0, abs(plain["loss"])):
        raise SystemExit(f"the two computations disagree: loss {plain['loss']} vs {chunked['loss']}")
    print(f"learner_peak_memory_ratio={chunked['peak_mb'] / plain['peak_mb']:.3f}")


if __name__ == "__main__":
    main()
