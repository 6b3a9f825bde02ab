"""Engine throughput: generation tokens/s of the vLLM backend over the HF backend.

The same random-init Qwen3 model of about 30M parameters (hidden 640, 6 layers, 10 heads of 64,
the tiny tokenizer), the same 64 random prompts of 32 tokens, 128 new tokens each, temperature 1,
top_p 1; each engine in its own fresh process (`--engine`), built through the engine registry as
the trainer builds it, one untimed warm-up batch, then `--rounds` timed `generate_batch` calls of
all 64 prompts (median). vLLM runs twice: eager (the default) and compiled (`enforce_eager:
false`: torch.compile, ~20 s more start-up). Last line: `vllm_over_hf_tokens_per_s=X`, compiled, at
bfloat16; the same race at float32 is printed above it.

Why bfloat16 first: vLLM's CPU backend documents BF16 as its default data type, and it is the
usual rollout dtype on a GPU; on CPUs with avx512_bf16 or AMX vLLM's kernels use the native bf16
dot products. Both engines and the floor load the same weights in the same dtype (what
`model.dtype: bfloat16` gives a run).

Beside them, the decode floor: the same prompts through a bare loop of the model's own forward
passes with a KV cache (prefill, then one forward and one multinomial draw per new token; no
generate machinery, no engine): what the matmuls and attention of this model cost on this machine
with torch's kernels. floor / hf bounds what removing every per-step overhead can gain; an engine
beats it only with faster kernels.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _model_dir(out: str) -> str:
    """Save the ~30M-parameter random model and the tiny tokenizer to `out` (seeded)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from sparring.agents.models import load_tokenizer, resolve

    tok = load_tokenizer(resolve("tiny"))
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(tok), hidden_size=640, intermediate_size=1920, num_hidden_layers=6,
                         num_attention_heads=10, num_key_value_heads=5, head_dim=64, max_position_embeddings=1024,
                         tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _prompts(tok, sequences: int, prompt_len: int):
    """The benchmark's random prompts (seeded): every engine and the floor get the same ones."""
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.randint(3, len(tok), (sequences, prompt_len), generator=g)


def run_floor(path: str, sequences: int, prompt_len: int, new_tokens: int, rounds: int, dtype: str) -> dict:
    """Tokens/s of a bare decode loop: prefill, then per new token one forward with the KV cache
    and one draw at temperature 1 (equal-length prompts, so no padding and no attention mask)."""
    import torch
    from transformers import DynamicCache

    from sparring.agents.models import load_model, load_tokenizer

    model, tok = load_model(path, dtype, device="cpu").eval(), load_tokenizer(path)
    prompts = _prompts(tok, sequences, prompt_len)

    def decode(ids: torch.Tensor, steps: int) -> None:
        cache = DynamicCache()
        logits = model(input_ids=ids, past_key_values=cache, use_cache=True).logits[:, -1]
        for _ in range(steps):
            nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1)
            logits = model(input_ids=nxt, past_key_values=cache, use_cache=True).logits[:, -1]

    rates = []
    with torch.inference_mode():
        decode(prompts[:8], 8)  # warm-up
        for _ in range(rounds):
            t0 = time.perf_counter()
            decode(prompts, new_tokens)
            rates.append(sequences * new_tokens / (time.perf_counter() - t0))
    return {"backend": "floor (bare forwards)", "tokens_per_s": statistics.median(rates), "rounds": rates,
            "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads()}


def run_engine(backend: str, path: str, sequences: int, prompt_len: int, new_tokens: int, rounds: int,
               dtype: str, eager: bool = True) -> dict:
    import torch

    from sparring.agents.engines import make_engine
    from sparring.agents.models import load_model, load_tokenizer
    from sparring.config import EngineConfig
    from sparring.types import SamplingParams

    model, tok = load_model(path, dtype, device="cpu"), load_tokenizer(path)
    options = {"gpu_memory_utilization": 0.2, "max_model_len": 512, "enforce_eager": eager} if backend == "vllm" else {}
    engine = make_engine(EngineConfig(backend=backend, max_batch_size=sequences, options=options), model, tok)
    prompts = _prompts(tok, sequences, prompt_len).tolist()
    sampling = SamplingParams(new_tokens, 1.0, 1.0)
    engine.generate_batch(prompts[:8], SamplingParams(8, 1.0, 1.0))  # warm-up
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        gens = engine.generate_batch(prompts, sampling)
        dt = time.perf_counter() - t0
        rates.append(sum(len(x.completion_ids) for x in gens) / dt)
    name = backend if backend == "hf" else f"vllm ({'eager' if eager else 'compiled'})"
    return {"backend": name, "tokens_per_s": statistics.median(rates), "rounds": rates,
            "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"], choices=["bfloat16", "float32"],
                    help="weights and activations of every engine and the floor, one table each; the last line "
                         "is the first dtype's")
    ap.add_argument("--dtype", help=argparse.SUPPRESS)  # child
    ap.add_argument("--engine", choices=["hf", "vllm", "vllm-compiled", "floor"], help=argparse.SUPPRESS)  # child
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    shape = (args.sequences, args.prompt_tokens, args.new_tokens, args.rounds, args.dtype)
    if args.engine == "floor":
        print(json.dumps(run_floor(args.model, *shape)))
        return
    if args.engine:
        print(json.dumps(run_engine(args.engine.split("-")[0], args.model, *shape, eager=args.engine != "vllm-compiled")))
        return
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="sparring-engines-") as tmp:
        path = _model_dir(tmp)
        for dtype in args.dtypes:
            ratios[dtype] = _race(args, path, dtype)
    for dtype in args.dtypes[1:]:
        print(f"vllm over hf at {dtype}: {ratios[dtype]:.2f}")
    print(f"vllm_over_hf_tokens_per_s={ratios[args.dtypes[0]]:.2f}")


def _race(args, path: str, dtype: str) -> float:
    """Every engine and the floor at `dtype`, each in its own process; prints the table, returns
    compiled vLLM's tokens/s over HF's."""
    results = {}
    for backend in ("hf", "vllm", "vllm-compiled", "floor"):
        cmd = [sys.executable, __file__, "--engine", backend, "--model", path, "--sequences", str(args.sequences),
               "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
               "--rounds", str(args.rounds), "--dtype", dtype]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{backend} engine failed at {dtype}:\n{out.stderr[-3000:]}")
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
    hf, eager, vllm, floor = results["hf"], results["vllm"], results["vllm-compiled"], results["floor"]
    print(f"model: random Qwen3, {hf['params'] / 1e6:.1f}M parameters; {args.sequences} sequences x "
          f"{args.prompt_tokens} prompt + {args.new_tokens} new tokens, temperature 1; {dtype}; {hf['threads']} threads")
    for r in (hf, eager, vllm, floor):
        print(f"  {r['backend']:21s} {r['tokens_per_s']:8.0f} tokens/s  (rounds: "
              f"{', '.join(f'{x:.0f}' for x in r['rounds'])})")
    print(f"  vllm eager (engine.options.enforce_eager: true, the default) over hf: "
          f"{eager['tokens_per_s'] / hf['tokens_per_s']:.2f}")
    print(f"  decode floor over hf (the most that removing per-step overhead can gain with torch's kernels): "
          f"{floor['tokens_per_s'] / hf['tokens_per_s']:.2f}")
    print(f"  compiled vllm over hf: {vllm['tokens_per_s'] / hf['tokens_per_s']:.2f}")
    return vllm["tokens_per_s"] / hf["tokens_per_s"]


if __name__ == "__main__":
    main()
