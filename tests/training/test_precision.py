"""Precision and devices: bf16 weights train through float32 masters (a 1e-6 step is not rounded
away), masters survive a resume, float16 and unavailable devices are refused with reasons."""

from __future__ import annotations

import pytest
import torch

from sparring.agents.models import load_model, resolve_device
from sparring.config import ConfigError, LossConfig, OptimConfig, load_config
from sparring.training import batching
from sparring.training.learner import Learner
from sparring.types import Sample


def _samples(vocab: int, n: int = 6, seed: int = 0) -> list[Sample]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        prompt = torch.randint(3, vocab, (5 + i,), generator=g).tolist()
        completion = torch.randint(3, vocab, (4,), generator=g).tolist()
        advantage = float(torch.randn((), generator=g))
        out.append(Sample(prompt, completion, [-7.0] * 4, advantage, advantage, "r", ("a", "r")))
    return out


def _steps(learner: Learner, vocab: int, steps: int) -> None:
    for step in range(steps):
        batches = batching.build(_samples(vocab, seed=step), micro_batch_size=4, pad_id=0)
        learner.update(batches)


def test_bf16_training_at_lr_1e6_changes_the_float32_masters(tiny_path):
    model = load_model(tiny_path, "bfloat16", device="cpu")
    learner = Learner(model, OptimConfig(learning_rate=1e-6, grad_clip=1e9), LossConfig())
    masters = learner.masters.params
    assert all(m.dtype == torch.float32 for m in masters)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    before = [m.detach().clone() for m in masters]
    bf16_before = [p.detach().clone() for p in model.parameters()]
    _steps(learner, model.config.vocab_size, 10)
    changed = sum(int((m.detach() != b).sum()) for m, b in zip(masters, before))
    total = sum(b.numel() for b in before)
    assert changed / total >= 0.99, f"only {changed / total:.4f} of the fp32 masters changed"
    # stepping the bf16 weights themselves would have lost almost all of it: few of them moved yet
    moved = sum(int((p.detach() != b).sum()) for p, b in zip(model.parameters(), bf16_before))
    assert moved / total < 0.5
    for p, m in zip(model.parameters(), masters):  # the weights are the masters, rounded
        assert torch.equal(p.detach(), m.detach().to(torch.bfloat16))


def test_float32_weights_are_their_own_masters(tiny_model):
    learner = Learner(tiny_model, OptimConfig(learning_rate=1e-3), LossConfig())
    assert learner.masters.pairs == []
    assert [m.data_ptr() for m in learner.masters.params] == [p.data_ptr() for p in tiny_model.parameters()]


def test_masters_survive_a_save_and_load(tiny_path):
    model = load_model(tiny_path, "bfloat16", device="cpu")
    learner = Learner(model, OptimConfig(learning_rate=1e-5, grad_clip=1e9), LossConfig())
    _steps(learner, model.config.vocab_size, 2)
    state = learner.state_dict()
    fresh = Learner(load_model(tiny_path, "bfloat16", device="cpu"), OptimConfig(learning_rate=1e-5), LossConfig())
    fresh.load_state_dict(state)
    for a, b in zip(fresh.masters.params, learner.masters.params):
        assert torch.equal(a, b)  # exact float32 values, not the rounded bf16 weights


def test_trainable_float16_weights_are_refused(tiny_path):
    model = load_model(tiny_path, "float16", device="cpu")
    with pytest.raises(ValueError, match="loss scaling"):
        Learner(model, OptimConfig(), LossConfig())


def test_config_refuses_float16_and_bad_devices():
    base = {"arenas": [{"name": "k", "game": "kuhn_poker"}]}
    with pytest.raises(ConfigError, match=r"model.dtype: .*loss scaling"):
        load_config(data={**base, "model": {"dtype": "float16"}})
    with pytest.raises(ConfigError, match=r"model.device: .*auto, cpu, cuda"):
        load_config(data={**base, "model": {"device": "gpu0"}})
    assert load_config(data={**base, "model": {"device": "cuda:1"}}).model.device == "cuda:1"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_says_so():
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_a_bf16_run_shares_weights_and_resumes_its_masters(tmp_path, small_spec_kw):
    """Through the trainer: the engine serves the learner's tensors, and a resumed bf16 run
    continues from the exact float32 masters it saved."""
    from sparring.training.trainer import Trainer

    data = {"run": {"output_dir": str(tmp_path / "run"), "steps": 1}, "model": {"tiny": small_spec_kw, "dtype": "bfloat16"},
            "sampling": {"max_new_tokens": 3}, "arenas": [{"name": "k", "game": "kuhn_poker", "episodes_per_step": 4}],
            "optim": {"learning_rate": 1e-6}}
    trainer = Trainer(load_config(data=data), show_progress=False)
    try:
        engine_ptrs = [p.data_ptr() for p in trainer.engine.model.parameters()]
        assert engine_ptrs == [p.data_ptr() for p in trainer.learner.model.parameters()]
        trainer.train()
        masters = [m.detach().clone() for m in trainer.learner.masters.params]
    finally:
        trainer.close()
    resumed = Trainer(load_config(data=data), show_progress=False)
    try:
        assert resumed.step == 1
        for a, b in zip(resumed.learner.masters.params, masters):
            assert torch.equal(a.detach(), b)
    finally:
        resumed.close()


def test_low_precision_gradients_sum_in_float32_across_micro_batches():
    """Each micro-batch's bf16 gradient is added to the float32 master's, not summed in bf16 first."""
    from sparring.training.learner import MasterWeights

    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.bfloat16))
    masters = MasterWeights([p])
    for _ in range(300):  # summed in bf16, 256 + 1 rounds back to 256 (its spacing there is 2)
        p.grad = torch.ones(4, dtype=torch.bfloat16)
        masters.to_masters()
    (m,) = masters.params
    assert p.grad is None and m.grad.dtype == torch.float32
    want = 300.0
    assert torch.allclose(m.grad, torch.full((4,), want))
