"""Models: the offline tiny-model factory and one loader for any HF model.

`tiny` builds a Qwen3-architecture model of ~1-5M parameters with a byte-level BPE tokenizer
trained here with `tokenizers` on game transcripts, and a ChatML chat template. It needs no
network, is deterministic (same spec -> same files, same weights) and is cached on disk under
$SPARRING_CACHE (default ~/.cache/sparring). Any local HF model directory or hub id loads the
same way through `load_model` / `load_tokenizer`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS_VERSION = 2  # bump when the tokenizer corpus changes in a way its text hash misses
# The tokenizer is trained on these built-in games only (those registered at build time), so a
# user game, a test game or an installed TextArena never changes the tiny model's vocabulary.
CORPUS_GAMES = ("kuhn_poker", "tictactoe", "connect_four", "liars_dice", "simple_negotiation")


@dataclass(frozen=True)
class TinySpec:
    """Shape of the tiny model; every field changes the cache key."""

    vocab_size: int = 1024
    hidden_size: int = 160
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 480
    max_position_embeddings: int = 1024
    seed: int = 0
    split_digits: bool = False


def _cache_fields(spec: TinySpec) -> dict:
    """The spec's fields for the cache key; split_digits only when set, so the models built before
    it existed keep their key."""
    fields = asdict(spec)
    if not spec.split_digits:
        del fields["split_digits"]
    return fields


def cache_root() -> Path:
    return Path(os.environ.get("SPARRING_CACHE", Path.home() / ".cache" / "sparring"))


@functools.lru_cache(maxsize=4)
def _tokenizer_corpus(seed: int) -> list[str]:
    """Deterministic training text: chat-formatted transcripts of random legal play."""
    from sparring.environments import make, names

    rng = random.Random(seed)
    texts = []
    for game_name in [g for g in CORPUS_GAMES if g in names()]:
        for s in range(300):
            game = make(game_name)
            game.reset(seed=s)
            while not game.done:
                if game.turn >= 60:
                    break
                player = game.current_player
                action = game.sample_action(rng)
                texts.append(
                    f"<|im_start|>user\n{game.observation(player)}<|im_end|>\n"
                    f"<|im_start|>assistant\n[{action}]<|im_end|>\n"
                )
                game.step(action)
    texts.append(
        "def f(x):\n    return x + 1\nThe quick brown fox jumps over the lazy dog. "
        "Answer with one action in brackets. You are the player to move."
    )
    texts.extend(_CODE_SNIPPETS)
    return texts


# A little Python so code tasks (Absolute Zero, HumanEval) tokenize into sensible pieces.
_CODE_SNIPPETS = [
    "def f(a):\n    return a\n",
    "def f(x, y):\n    return [i * y for i in range(x) if i % 2 == 0]\n",
    "def f(s: str) -> str:\n    return ''.join(sorted(set(s)))\n",
    "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n",
    "def f(d):\n    return {k: v for k, v in d.items() if v > 0}\n",
    "```python\ndef f(lst):\n    if not lst:\n        return None\n    return max(lst) - min(lst)\n```\n",
    "<input>\n[1, 2, 3]\n</input>\n<output>\n6\n</output>\n<answer>\n'abc'\n</answer>\n",
]


def _train_tokenizer(spec: TinySpec, out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if spec.split_digits:  # every digit its own token, as Qwen's tokenizers split numbers
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(spec.seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_tiny(spec: TinySpec = TinySpec()) -> Path:
    """Build (once) and return the directory of the tiny model for `spec`."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    corpus_hash = hashlib.sha256("".join(_tokenizer_corpus(spec.seed)).encode()).hexdigest()
    key = hashlib.sha256(json.dumps([_cache_fields(spec), CORPUS_VERSION, corpus_hash]).encode()).hexdigest()[:12]
    path = cache_root() / "models" / f"tiny-qwen3-{key}"
    if (path / "config.json").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".build-"))
    try:
        tokenizer = _train_tokenizer(spec, tmp)
        config = Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=spec.hidden_size,
            intermediate_size=spec.intermediate_size,
            num_hidden_layers=spec.num_layers,
            num_attention_heads=spec.num_heads,
            num_key_value_heads=spec.num_kv_heads,
            head_dim=spec.hidden_size // spec.num_heads,
            max_position_embeddings=spec.max_position_embeddings,
            tie_word_embeddings=True,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=None,
        )
        with torch.random.fork_rng(devices=[]):  # the caller's RNG stays as it was: a run that builds the
            torch.manual_seed(spec.seed)        # model must draw what a run that finds it cached draws
            model = Qwen3ForCausalLM(config)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp)
        try:
            os.rename(tmp, path)  # atomic: concurrent builders race safely
        except OSError:
            if not (path / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built tiny model at %s (%d parameters)", path, model.num_parameters())
    return path


def resolve(name_or_path: str, tiny: TinySpec | None = None) -> str:
    """'tiny' -> the cached tiny model dir; anything else is a local dir or hub id as given."""
    if name_or_path == "tiny":
        return str(build_tiny(tiny or TinySpec()))
    return name_or_path


def load_tokenizer(path: str):
    """The tokenizer at `path` (pad token defaulted to eos). One without a chat template (a base
    model) loads too: its roles use the plain prompt style (an arena's `prompt.style`)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def resolve_device(name: str | None = "auto") -> torch.device:
    """`model.device` as a torch device: auto is the first CUDA GPU when one is visible, else the CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"model.device is {name!r} but torch sees no CUDA GPU (torch {torch.__version__}, "
                         f"built for CUDA {torch.version.cuda}); use device: auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"model.device is {name!r} but torch sees {torch.cuda.device_count()} GPU(s)")
    return device


def load_model(path: str, dtype: str = "float32", lora: dict | None = None, device: str | None = "auto"):
    """A causal LM from a dir or hub id on `device` (a `model.device` value); with `lora`, wrapped
    as a PEFT LoRA model (adapters in float32 whatever `dtype` the frozen base is stored in)."""
    from transformers import AutoModelForCausalLM

    if (Path(path) / "adapter_config.json").exists():  # a LoRA checkpoint: base + adapter, merged
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model = model.to(resolve_device(device))
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora), autocast_adapter_dtype=True)
    return model
