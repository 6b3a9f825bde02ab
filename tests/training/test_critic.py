"""The learned critic: GAE against a plain reference, the value loss, and exact resume."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from sparring.config import AdvantageConfig, ConfigError, CriticConfig, load_config
from sparring.training import batching
from sparring.training.advantages import Estimator, estimator_is_turn_level, gae
from sparring.training.credit import AdvantageAssigner
from sparring.training.critic import Critic
from sparring.training.learner import Learner
from sparring.training.loss import value_loss
from sparring.types import Episode, Sample, Turn


def cleanrl_gae(rewards, values, dones, gamma, lam):
    """CleanRL's ppo.py loop, verbatim in spirit: `starts[t]` is 1 where turn t begins a new
    trajectory (CleanRL's `dones`, the flag stored with the observation after a reset); the
    rollout ends with a finished trajectory (next_done = 1)."""
    n = len(rewards)
    starts = np.zeros(n + 1)
    starts[1:] = dones  # turn t + 1 starts a new trajectory when turn t ended one
    advantages = np.zeros(n)
    lastgaelam = 0.0
    for t in reversed(range(n)):
        if t == n - 1:
            nextnonterminal, nextvalues = 0.0, 0.0
        else:
            nextnonterminal, nextvalues = 1.0 - starts[t + 1], values[t + 1]
        delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
        advantages[t] = lastgaelam = delta + gamma * lam * nextnonterminal * lastgaelam
    return advantages


@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.99, 0.95), (0.9, 0.0), (1.0, 0.5)])
def test_gae_matches_the_cleanrl_reference(gamma, lam):
    rng = random.Random(7)
    for _ in range(20):
        lengths = [rng.randint(1, 6) for _ in range(rng.randint(1, 5))]
        dones = [k == n - 1 for n in lengths for k in range(n)]
        rewards = [rng.uniform(-1, 1) for _ in dones]
        values = [rng.uniform(-1, 1) for _ in dones]
        got = gae(torch.tensor(rewards), torch.tensor(values), dones, gamma, lam)
        want = cleanrl_gae(np.array(rewards), np.array(values), np.array(dones, dtype=float), gamma, lam)
        assert torch.allclose(got, torch.tensor(want, dtype=torch.float32), atol=1e-5)


def test_gae_with_lambda_gamma_one_and_a_zero_critic_is_the_monte_carlo_return():
    rewards = torch.tensor([0.0, 0.5, 1.0, -1.0, 0.0, 2.0])
    dones = [False, False, True, True, False, True]
    got = gae(rewards, torch.zeros(6), dones, 1.0, 1.0)
    assert got.tolist() == [1.5, 1.5, 1.0, -1.0, 2.0, 2.0]  # the rewards still to come in each trajectory
    # lambda = gamma = 1 with any critic: the return less the state's value
    values = torch.tensor([0.3, -0.2, 0.1, 0.4, 0.0, -0.5])
    assert torch.allclose(gae(rewards, values, dones, 1.0, 1.0), got - values)
    # lambda = 0: one-step TD, r + V(s') - V(s)
    td = gae(rewards, values, dones, 1.0, 0.0)
    assert td[0].item() == pytest.approx(0.0 - 0.2 - 0.3) and td[2].item() == pytest.approx(1.0 - 0.1)


def test_gae_refuses_an_unfinished_trajectory_and_mismatched_values():
    with pytest.raises(ValueError, match="last turn"):
        gae(torch.tensor([1.0, 2.0]), torch.zeros(2), [True, False])
    with pytest.raises(ValueError, match="values"):
        gae(torch.tensor([1.0, 2.0]), torch.zeros(3), [False, True])


def test_gae_is_a_registered_turn_level_estimator_with_options():
    assert estimator_is_turn_level("gae") and not estimator_is_turn_level("rae")
    est = Estimator("gae", {"gamma": 1.0, "lam": 0.0})
    assert est.turn_level
    adv = est(torch.tensor([0.0, 1.0]), values=torch.tensor([0.25, 0.5]), dones=[False, True])
    assert adv.tolist() == pytest.approx([0.25, 0.5])
    with pytest.raises(ValueError, match="lam"):
        Estimator("gae", {"lam": 2.0})


def _turn(player, prompt, reward=None, retried=False):
    return Turn(role=f"p{player}", player=player, prompt_ids=prompt, completion_ids=[9], logprobs=[-0.5],
                text="x", reward=reward, retried=retried)


def test_assigner_gives_each_turn_its_gae_advantage_and_the_critic_its_targets():
    value_of = {(1,): 0.2, (2,): -0.1, (3,): 0.4, (4,): 0.0, (5,): 0.3}
    asked = []

    def values(prompts):
        asked.append(len(prompts))
        return [value_of[tuple(p)] for p in prompts]

    ep = Episode(arena="g", task="g", seed=0, rewards=[1.0, -1.0], roles=["p0", "p1"], turns=[
        _turn(0, [1]), _turn(1, [2]), _turn(0, [3], reward=0.5), _turn(1, [4]),
        _turn(1, [4], reward=-2.0, retried=True), _turn(0, [5])])
    assigner = AdvantageAssigner(AdvantageConfig(estimator="gae", options={"gae": {"gamma": 1.0, "lam": 0.5}}),
                                 values=values)
    samples = assigner.assign([ep])
    assert asked == [6]  # one call for the whole batch
    by_prompt = {}
    for s in samples:
        by_prompt.setdefault(tuple(s.prompt_ids), []).append(s)
    # player 0: turns [1], [3], [5] with rewards 0, 0.5, 1 (final)
    want0 = gae(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.2, 0.4, 0.3]), [False, False, True], 1.0, 0.5)
    got0 = [by_prompt[(p,)][0].advantage for p in (1, 3, 5)]
    assert got0 == pytest.approx(want0.tolist())
    for p, a in zip((1, 3, 5), got0):
        s = by_prompt[(p,)][0]
        assert s.value == pytest.approx(value_of[(p,)]) and s.value_target == pytest.approx(a + value_of[(p,)])
    # player 1: turns [2], [4] with rewards 0, -1; the retried attempt at [4]: -2 - V, no target
    want1 = gae(torch.tensor([0.0, -1.0]), torch.tensor([-0.1, 0.0]), [False, True], 1.0, 0.5)
    kept = [s for s in by_prompt[(4,)] if s.value_target is not None]
    retry = [s for s in by_prompt[(4,)] if s.value_target is None]
    assert [by_prompt[(2,)][0].advantage, kept[0].advantage] == pytest.approx(want1.tolist())
    assert len(retry) == 1 and retry[0].advantage == pytest.approx(-2.0 - 0.0)
    stats = assigner.critic_stats
    assert {"critic/explained_variance", "critic/value/p0", "critic/value_error/p1"} <= set(stats)


def test_a_turn_level_estimator_without_a_critic_is_refused():
    with pytest.raises(ValueError, match="critic"):
        AdvantageAssigner(AdvantageConfig(estimator="gae"))


def test_the_clipped_value_loss_by_hand():
    values, old, returns = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([2.0, 1.0])
    mask = torch.tensor([1.0, 1.0])
    # row 0: unclipped (1-2)^2 = 1, clipped V 0.2 -> (0.2-2)^2 = 3.24; row 1: 1 both ways
    assert value_loss(values, old, returns, mask, clip=0.2, total=2).item() == pytest.approx(0.5 * (3.24 + 1.0) / 2)
    assert value_loss(values, old, returns, mask, clip=None, total=2).item() == pytest.approx(0.5 * 2.0 / 2)
    # masked rows and counts
    got = value_loss(values, old, returns, torch.tensor([1.0, 0.0]), clip=None, total=3, counts=torch.tensor([3.0, 1.0]))
    assert got.item() == pytest.approx(0.5 * 3.0 / 3)


def test_rows_merge_only_when_their_value_targets_agree():
    def sample(target):
        return Sample(prompt_ids=[1, 2], completion_ids=[3], old_logprobs=[-0.1], advantage=0.5, reward=1.0,
                      role="p0", key=("g", "p0"), value=0.1, value_target=target)

    (mb,) = batching.build([sample(1.0), sample(1.0), sample(-1.0)], 8, pad_id=0)
    assert sorted(mb.counts.tolist()) == [1.0, 2.0]
    assert sorted(mb.returns.tolist()) == [-1.0, 1.0] and mb.total_values == 3
    assert mb.old_values.tolist() == pytest.approx([0.1, 0.1])


def _critic_samples(tokenizer, n=12):
    rng = random.Random(0)
    out = []
    for i in range(n):
        prompt = tokenizer.encode(f"position {i % 4} to play")
        target = [1.0, -1.0, 0.5, 0.0][i % 4]
        out.append(Sample(prompt_ids=prompt, completion_ids=[rng.randrange(5, 50)], old_logprobs=[-2.0],
                          advantage=0.0, reward=target, role="p0", key=("g", "p0"), value=0.0, value_target=target))
    return out


@pytest.mark.parametrize("placement", ["shared", "separate"])
def test_value_loss_decreases_on_a_fixed_batch(tiny_model, tiny_path, tokenizer, placement):
    from sparring.agents.models import load_model
    from sparring.config import OptimConfig

    separate = load_model(tiny_path, device="cpu") if placement == "separate" else None
    critic = Critic(tiny_model, placement, separate)
    learner = Learner(tiny_model, OptimConfig(learning_rate=1e-3, micro_batch_size=4), critic=critic,
                      critic_cfg=CriticConfig(model=placement, value_clip=None, learning_rate=1e-2))
    batches = batching.build(_critic_samples(tokenizer), 4, pad_id=0)
    losses = [learner.update(batches)["critic/value_loss"] for _ in range(15)]
    assert losses[0] == pytest.approx(0.5 * (1 + 1 + 0.25) / 4, rel=1e-4)  # a zero head: 0.5 * mean R^2
    assert losses[-1] < 0.2 * losses[0], losses
    prompts = [s.prompt_ids for s in _critic_samples(tokenizer, 4)]
    v = critic.values(prompts)  # targets 1, -1, 0.5, 0: the fitted values keep their order
    assert v[0] > v[2] > v[3] > v[1], v


def test_a_frozen_policy_still_trains_its_critic(tiny_model, tokenizer):
    """Policy learning rate 0 with a critic that learns: the update still runs (the value head moves)."""
    from sparring.config import OptimConfig

    critic = Critic(tiny_model)
    learner = Learner(tiny_model, OptimConfig(learning_rate=0.0, micro_batch_size=4), critic=critic,
                      critic_cfg=CriticConfig(learning_rate=1e-2))
    stats = learner.update(batching.build(_critic_samples(tokenizer), 4, pad_id=0))
    assert "loss/frozen" not in stats and stats["critic/value_loss"] > 0
    assert critic.head.weight.abs().sum() > 0


def test_the_critic_warm_up_leaves_the_policy_as_it_is(tiny_model, tokenizer):
    from sparring.config import OptimConfig

    critic = Critic(tiny_model)
    learner = Learner(tiny_model, OptimConfig(learning_rate=1e-3, micro_batch_size=4), critic=critic,
                      critic_cfg=CriticConfig(warmup_steps=1))
    samples = [Sample(**{**s.__dict__, "advantage": 1.0}) for s in _critic_samples(tokenizer)]
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    stats = learner.update(batching.build(samples, 4, pad_id=0))
    assert stats["critic/warmup"] == 1.0
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    assert critic.head.weight.abs().sum() > 0
    stats = learner.update(batching.build(samples, 4, pad_id=0))  # warm-up over: the policy moves
    assert stats["critic/warmup"] == 0.0
    assert any(not torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())


def _config(tmp_path, run_dir, steps, **critic):
    import yaml

    cfg = {
        "run": {"name": "critic", "output_dir": str(run_dir), "seed": 5, "steps": steps},
        "model": {"name": "tiny", "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 2,
                                            "num_kv_heads": 1, "intermediate_size": 128}},
        "sampling": {"max_new_tokens": 4, "temperature": 1.0},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 16, "opponent": {"kind": "self"}}],
        "advantages": {"estimator": "gae", "options": {"gae": {"lam": 0.9}}},
        "critic": {"learning_rate": 1e-2, **critic},
        "optim": {"learning_rate": 1e-3, "micro_batch_size": 8},
        "checkpoint": {"every": 1, "keep": 10},
    }
    path = tmp_path / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(path)


@pytest.mark.parametrize("placement", ["shared", "separate"])
def test_resume_restores_the_critic_bit_identically(tmp_path, tiny_path, placement):
    from sparring.training.trainer import Trainer

    def run(run_dir, steps):
        trainer = Trainer(_config(tmp_path, run_dir, steps, model=placement), show_progress=False)
        try:
            stats = trainer.train()
            return trainer.learner.critic.state_dict_cpu(), stats, trainer.learner.model.state_dict()
        finally:
            trainer.close()

    straight, stats, weights = run(tmp_path / "straight", 3)
    assert "critic/value/kuhn_poker/p0" in stats and stats["critic/value_loss"] > 0
    assert straight["head.weight"].abs().sum() > 0
    run(tmp_path / "resumed", 2)
    trainer = Trainer(_config(tmp_path, tmp_path / "resumed", 3, model=placement), show_progress=False)
    try:  # the restored critic is the saved one
        import sparring.training.checkpoint as ckpt

        _, blob = ckpt.load_state(ckpt.latest(tmp_path / "resumed"))
        saved = blob["learner"]["critic"]
        assert trainer.step == 2 and trainer.learner.updates == 2
        got = trainer.learner.critic.state_dict_cpu()
        assert saved.keys() == got.keys() and all(torch.equal(saved[k], got[k]) for k in saved)
    finally:
        trainer.close()
    resumed, _, resumed_weights = run(tmp_path / "resumed", 3)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)  # 2 + 1 steps == 3 steps
    assert all(torch.equal(weights[k], resumed_weights[k]) for k in weights)


def test_critic_settings_without_a_turn_level_estimator_are_refused(tmp_path):
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"arenas": [{"name": "k", "game": "kuhn_poker"}], "critic": {"value_coef": 1.0}}))
    with pytest.raises(ConfigError, match="no role uses a turn-level estimator"):
        load_config(path)


def test_the_critic_reads_the_same_state_from_every_forward_path(tiny_model, tokenizer):
    """The prompt's last hidden state from the shared-prompt pass, the plain pass and the
    critic's own prompt pass agree (same position, no off-by-one)."""
    from sparring.training.logprobs import shared_prompt_logprobs, token_logprobs

    samples = [Sample(**{**s.__dict__, "completion_ids": [5 + i % 3, 7]}) for i, s in enumerate(_critic_samples(tokenizer, 8))]
    (mb,) = batching.build(samples, 16, pad_id=0, merge=False)
    with torch.no_grad():
        *_, shared = shared_prompt_logprobs(tiny_model, mb.input_ids, mb.attention_mask, mb.prompt_lengths, 1.0,
                                            loss_mask=mb.loss_mask, with_state=True)
        *_, plain = token_logprobs(tiny_model, mb.input_ids, mb.attention_mask, 1.0, loss_mask=mb.loss_mask,
                                   prompt_lengths=mb.prompt_lengths)
        critic = Critic(tiny_model)
        torch.nn.init.normal_(critic.head.weight)
        prompts = [row[:n] for row, n in zip(mb.input_ids.tolist(), mb.prompt_lengths.tolist())]
        own = critic.prompt_values(prompts)
    assert torch.allclose(shared, plain, atol=1e-4)
    assert torch.allclose(critic.value_of(plain), own, atol=1e-4)


def test_credit_settings_under_gae_alone_are_refused(tmp_path):
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"arenas": [{"name": "k", "game": "kuhn_poker"}],
                                    "advantages": {"estimator": "gae"}, "credit": {"gamma": 0.9}}))
    with pytest.raises(ConfigError, match="credits each turn itself"):
        load_config(path)


def test_a_checkpoint_with_a_critic_does_not_resume_without_one(tiny_model):
    learner = Learner(tiny_model, critic=Critic(tiny_model))
    state = learner.state_dict()
    with pytest.raises(ValueError, match="written with a critic"):
        Learner(tiny_model).load_state_dict(state)
