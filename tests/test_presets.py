"""Real-model presets: each validates and runs one RL step end to end on the CPU with a random-init
model of its architecture scaled down (no download), its tokenizer stripped of the chat template
as a base model's is. Everything else (prompt style and answer format, bf16 with float32 masters,
gradient checkpointing, stop tokens, the invalid-move preset) is the preset's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from sparring.agents.models import load_tokenizer
from sparring.config import load_config

REPO = Path(__file__).resolve().parents[1]
ARCH = {"spiral_kuhn_qwen3.yaml": "qwen3", "absolute_zero_qwen.yaml": "qwen2", "rise_qwen3.yaml": "qwen3",
        "spice_qwen3.yaml": "qwen3"}


def _twin(arch: str, tokenizer_path: str, out: Path) -> str:
    """A random-init model of `arch` at toy size with the tiny tokenizer, without a chat template."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tok = load_tokenizer(tokenizer_path)
    tok.chat_template = None
    config_cls, model_cls = {"qwen3": (Qwen3Config, Qwen3ForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[arch]
    config = config_cls(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    model_cls(config).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.mark.parametrize("preset", sorted(ARCH))
def test_preset_runs_one_step_with_a_scaled_down_twin(preset, tiny_path, tmp_path):
    kind = yaml.safe_load((REPO / "configs" / preset).read_text())["arenas"][0].get("kind", "game")
    data = []  # the data files a user brings to the tasks and corpus presets (a missing one is a config error)
    if kind == "tasks":
        problems = tmp_path / "problems.jsonl"
        problems.write_text('{"problem": "What is $1 + 1$?", "answer": "2"}\n{"problem": "Half of 1?", "answer": "\\\\frac{1}{2}"}\n')
        data = [f"arenas.0.source.path={problems}", f"arenas.0.eval_source.path={problems}"]
    elif kind == "corpus":
        corpus = tmp_path / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"text": f"Document {i}: the function f{i} returns {i} squared, "
                                                       f"which is {i * i}, and raises TypeError on strings."}) + "\n"
                                  for i in range(4)))
        data = [f"arenas.0.corpus.path={corpus}"]
    full = load_config(REPO / "configs" / preset, data)
    assert full.model.dtype == "bfloat16" and full.optim.learning_rate == 1e-6
    twin = _twin(ARCH[preset], tiny_path, tmp_path / "twin")
    overrides = [*data, f"model.name={twin}", f"run.output_dir={tmp_path / 'run'}", "run.steps=1", "eval.every=0",
                 "checkpoint.every=1", "sampling.max_new_tokens=12"]
    if full.arenas[0].kind == "absolute_zero":
        overrides += ["arenas.0.episodes_per_step=2", "arenas.0.mc_samples=2", "arenas.0.references=2",
                      "arenas.0.proposer_max_new_tokens=12", "arenas.0.solver_max_new_tokens=12",
                      "arenas.0.seed.size=2", "arenas.0.seed.max_rounds=1"]  # one seeding round (gives up)
    elif full.arenas[0].kind == "tasks":
        overrides += ["arenas.0.episodes_per_step=2", "arenas.0.samples=2", "arenas.0.solver_max_new_tokens=12",
                      "arenas.0.verify.max_new_tokens=12"]
    elif full.arenas[0].kind == "corpus":
        overrides += ["arenas.0.episodes_per_step=2", "arenas.0.challenger.per_document=2", "arenas.0.reasoner.samples=2",
                      "arenas.0.corpus.min_chars=20", "arenas.0.challenger.max_new_tokens=12",
                      "arenas.0.reasoner.max_new_tokens=12"]
    else:
        overrides += ["arenas.0.episodes_per_step=4"]
    cfg = load_config(REPO / "configs" / preset, overrides)
    assert cfg.model.gradient_checkpointing and cfg.arenas[0].prompt.style == "plain"

    from sparring.training.trainer import Trainer

    trainer = Trainer(cfg, show_progress=False)
    try:
        assert next(trainer.learner.model.parameters()).dtype == torch.bfloat16
        assert all(m.dtype == torch.float32 for m in trainer.learner.masters.params)
        stats = trainer.train()
    finally:
        trainer.close()
    assert stats["rollout/episodes"] >= 2 and stats["rollout/turns"] > 0
    assert torch.isfinite(torch.tensor(stats["loss/total"]))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "perf/step_s" in r] == [1]
    if full.arenas[0].kind == "absolute_zero":  # the seeding stage ran before step 1 (Arena.prepare)
        assert [(r["step"], r["az/seed/rounds"]) for r in records if "az/seed/rounds" in r] == [(0, 1.0)]


@pytest.mark.parametrize("placement", ["shared", "separate"])
def test_the_critic_trains_on_a_real_model_preset(placement, tiny_path, tmp_path):
    """gae on the SPIRAL preset's twin: bf16 weights with float32 masters, gradient checkpointing
    (the plain log-prob path gives the shared head its states), a base model's plain prompts."""
    twin = _twin("qwen3", tiny_path, tmp_path / "twin")
    cfg = load_config(REPO / "configs" / "spiral_kuhn_qwen3.yaml", [
        f"model.name={twin}", f"run.output_dir={tmp_path / 'run'}", "run.steps=2", "eval.every=0",
        "checkpoint.every=1", "sampling.max_new_tokens=12", "arenas.0.episodes_per_step=4",
        "advantages.estimator=gae", "advantages.per_role={}", f"critic.model={placement}"])
    from sparring.training.trainer import Trainer

    trainer = Trainer(cfg, show_progress=False)
    try:
        head = trainer.learner.critic.head.weight.detach().clone()
        stats = trainer.train()
        assert stats["critic/value_loss"] > 0 and "critic/value_error/kuhn_poker/p0" in stats
        assert not torch.equal(head, trainer.learner.critic.head.weight)
        if placement == "separate":  # the value model is bf16 too, stepped through float32 masters
            assert next(trainer.learner.critic.body.parameters()).dtype == torch.bfloat16
    finally:
        trainer.close()
