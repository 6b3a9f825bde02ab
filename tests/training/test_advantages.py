"""Advantage estimators against hand-computed numbers (DESIGN.md contract).

Worked example used throughout: rewards [1, 0, 0, 1, 2] in groups [a, a, b, b, b].
  group a = [1, 0]:    mean 0.5, unbiased std sqrt((0.25 + 0.25) / 1) = 0.70710678
  group b = [0, 1, 2]: mean 1.0, unbiased std sqrt((1 + 0 + 1) / 2)   = 1.0
  whole batch:         mean 0.8, deviations [0.2, -0.8, -0.8, 0.2, 1.2],
                       unbiased var (0.04 + 0.64 + 0.64 + 0.04 + 1.44) / 4 = 0.7, std 0.83666003
"""

from __future__ import annotations

import json

import pytest
import torch

from sparring.training import advantages as A
from sparring.config import AdvantageConfig
from sparring.training.credit import AdvantageAssigner
from sparring.types import Episode, Turn

REWARDS = [1.0, 0.0, 0.0, 1.0, 2.0]
GROUPS = ["a", "a", "b", "b", "b"]

# 0.5 / (0.70710678 + 1e-6) = 0.70710578 ; 1 / (1 + 1e-6) = 0.99999900
GRPO_EXPECTED = [0.70710578, -0.70710578, -0.99999900, 0.0, 0.99999900]
DR_GRPO_EXPECTED = [0.5, -0.5, -1.0, 0.0, 1.0]
# deviation / (0.83666003 + 1e-6)
REINFORCE_PP_EXPECTED = [0.23904544, -0.95618174, -0.95618174, 0.23904544, 1.43427262]


def close(actual: torch.Tensor, expected: list[float], atol: float = 1e-6) -> None:
    assert actual.dtype.is_floating_point
    assert actual.shape == (len(expected),)
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype), atol=atol, rtol=1e-5)


def test_grpo_hand_computed():
    close(A.grpo(torch.tensor(REWARDS), GROUPS), GRPO_EXPECTED)


def test_dr_grpo_hand_computed():
    close(A.dr_grpo(torch.tensor(REWARDS), GROUPS), DR_GRPO_EXPECTED)


def test_maxrl_hand_computed():
    # group a = [1, 0]: mean 0.5, success rate 0.5 -> (1 - 0.5) / 0.5 = 1, -1
    # group b = [0, 1, 2]: mean 1, success rate mean(0, 1, 1) = 2/3 -> -1.5, 0, 1.5
    close(A.maxrl(torch.tensor(REWARDS), GROUPS), [1.0, -1.0, -1.5, 0.0, 1.5])


def test_maxrl_gives_no_advantage_without_a_success():
    # group a: no success (a penalty and a failure); c: a lone member
    r = torch.tensor([0.0, -0.5, 1.0])
    close(A.maxrl(r, ["a", "a", "c"]), [0.0] * 3)


def test_maxrl_counts_penalties_as_failures():
    # AZR's code scheme: right 1, wrong -0.5. [1, -0.5, -0.5, -0.5]: mean -0.125, success rate 1/4
    # -> (r + 0.125) * 4 = 4.5, -1.5, -1.5, -1.5 (a 0/1 group [1, 0, 0, 0] gives 3, -1, -1, -1)
    close(A.maxrl(torch.tensor([1.0, -0.5, -0.5, -0.5]), ["g"] * 4), [4.5, -1.5, -1.5, -1.5])
    close(A.maxrl(torch.tensor([1.0, 0.0, 0.0, 0.0]), ["g"] * 4), [3.0, -1.0, -1.0, -1.0])


def test_maxrl_follows_the_gradient_of_log_success_rate():
    """Exact expectation over every group of N answers from a 3-way softmax, success = action 0:
    MaxRL's per-group gradient (1/N) sum_i A_i grad log pi(y_i) averages to
    c grad log p, c = 1 - (1 - p)^N - p (1 - p)^(N - 1): the mean over successes is unbiased for
    the order-N truncation of maximum likelihood, (1 - (1 - p)^N) grad log p, and the no-success
    rule drops the centring term of all-fail groups, the last term. Centring alone (dr_grpo) gives
    (1 - 1/N) grad p: p times smaller, so a rarely solved prompt gets little."""
    import itertools

    logits = torch.tensor([-1.0, 0.5, 0.2])
    pi = torch.softmax(logits, 0)
    p, n = float(pi[0]), 4
    grad_logpi = torch.eye(3) - pi  # row y: d log pi(y) / d logits
    expected = {"maxrl": torch.zeros(3), "dr_grpo": torch.zeros(3)}
    for ys in itertools.product(range(3), repeat=n):
        prob = float(torch.prod(pi[list(ys)]))
        rewards = torch.tensor([float(y == 0) for y in ys])
        for name in expected:
            adv = getattr(A, name)(rewards, ["g"] * n)
            expected[name] += prob * (adv[:, None] * grad_logpi[list(ys)]).sum(0) / n
    c = 1 - (1 - p) ** n - p * (1 - p) ** (n - 1)
    torch.testing.assert_close(expected["maxrl"], c * grad_logpi[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(expected["dr_grpo"], (1 - 1 / n) * p * grad_logpi[0], atol=1e-5, rtol=1e-4)


def test_trr_plus_plus_hand_computed_with_tuple_keys():
    keys = [("task1", "proposer"), ("task1", "proposer"), ("task1", "solver"), ("task1", "solver"), ("task1", "solver")]
    close(A.trr_plus_plus(torch.tensor(REWARDS), keys), GRPO_EXPECTED)


def test_trr_plus_plus_separates_task_and_role():
    # same role, different task -> different keys -> normalised separately.
    # key (t1, s): [3, 5] mean 4, std sqrt(2) -> -+1/(1.41421356 + 1e-6) = -+0.70710628
    # key (t2, s): [10] alone -> 0
    keys = [("t1", "s"), ("t2", "s"), ("t1", "s")]
    close(A.trr_plus_plus(torch.tensor([3.0, 10.0, 5.0]), keys), [-0.70710628, 0.0, 0.70710628])


def test_reinforce_pp_hand_computed():
    close(A.reinforce_pp(torch.tensor(REWARDS)), REINFORCE_PP_EXPECTED)


def test_reinforce_is_the_reward_and_a_copy():
    r = torch.tensor(REWARDS)
    a = A.reinforce(r)
    close(a, REWARDS)
    a[0] = 99.0
    assert r[0] == 1.0, "reinforce must not alias its input"


def test_group_with_one_member_gets_zero():
    # group c has one member; groups a, b as in the worked example otherwise
    r = torch.tensor([1.0, 0.0, 7.0])
    g = ["a", "a", "c"]
    # group a: +-0.5 / (0.70710678 + 1e-6)
    close(A.grpo(r, g), [0.70710578, -0.70710578, 0.0])
    close(A.dr_grpo(r, g), [0.5, -0.5, 0.0])
    close(A.trr_plus_plus(r, g), [0.70710578, -0.70710578, 0.0])
    close(A.reinforce_pp(torch.tensor([5.0])), [0.0])


def test_constant_group_gives_zero_not_nan():
    a = A.grpo(torch.tensor([2.0, 2.0, 2.0]), ["g", "g", "g"])
    assert torch.isfinite(a).all()
    close(a, [0.0, 0.0, 0.0])


def test_rae_hand_computed_sequence_two_keys():
    # alpha = 0.5, b starts at 0, baseline used BEFORE its update:
    #  i  key r    b_before  a = r - b   b_after = 0.5 b + 0.5 r
    #  0  a   1    0         1           0.5
    #  1  b   2    0         2           1.0
    #  2  a   3    0.5       2.5         1.75
    #  3  a  -1    1.75     -2.75        0.375
    rae = A.RAE(alpha=0.5)
    adv = rae(torch.tensor([1.0, 2.0, 3.0, -1.0]), ["a", "b", "a", "a"])
    close(adv, [1.0, 2.0, 2.5, -2.75])
    assert rae.baselines == pytest.approx({"a": 0.375, "b": 1.0})
    # a second call continues from the stored baselines
    #  a: r=0.375+1=1.375 -> a = 1.0 ; b: r = 0 -> a = -1.0
    adv2 = rae(torch.tensor([1.375, 0.0]), ["a", "b"])
    close(adv2, [1.0, -1.0])
    assert rae.baselines == pytest.approx({"a": 0.875, "b": 0.5})


def test_rae_order_matters():
    # the same multiset in the other order gives other advantages (processed sequentially)
    rae1, rae2 = A.RAE(alpha=0.5), A.RAE(alpha=0.5)
    a1 = rae1(torch.tensor([4.0, 0.0]), ["k", "k"])  # [4, 0 - 2] = [4, -2]
    a2 = rae2(torch.tensor([0.0, 4.0]), ["k", "k"])  # [0, 4 - 0] = [0, 4]
    close(a1, [4.0, -2.0])
    close(a2, [0.0, 4.0])


def test_rae_state_dict_round_trip_through_json():
    rae = A.RAE(alpha=0.75)
    keys = [("arena", "kuhn_poker/p0"), ("arena", "kuhn_poker/p1"), "plain", ("nested", ("x", 1))]
    rae(torch.tensor([1.0, -1.0, 0.5, 2.0]), keys)
    state = json.loads(json.dumps(rae.state_dict()))
    changed = A.RAE(alpha=0.1)  # the config changed on resume: its alpha, the saved baselines
    changed.load_state_dict(state)
    assert changed.alpha == 0.1 and changed.baselines == rae.baselines
    other = A.RAE(alpha=0.75)
    other.load_state_dict(state)
    assert other.baselines == rae.baselines
    assert set(other.baselines) == set(keys)  # tuple keys come back as (hashable) tuples
    # and both continue identically
    more = torch.tensor([0.3, 0.2, -0.4, 1.0])
    close(other(more, keys), rae(more, keys).tolist())


@pytest.mark.parametrize("fn", [A.grpo, A.dr_grpo, A.maxrl, A.trr_plus_plus, A.RAE(0.9)])
def test_labelled_estimators_validate_input(fn):
    with pytest.raises(ValueError):
        fn(torch.zeros(2, 2), ["a", "b"])
    with pytest.raises(ValueError):
        fn(torch.zeros(3), ["a", "b"])


@pytest.mark.parametrize("fn", [A.reinforce_pp, A.reinforce])
def test_unlabelled_estimators_validate_input(fn):
    with pytest.raises(ValueError):
        fn(torch.zeros(2, 3))


def test_rae_rejects_bad_alpha():
    with pytest.raises(ValueError):
        A.RAE(alpha=1.5)
    with pytest.raises(ValueError):
        A.RAE(alpha=-0.1)


def test_rae_alpha_one_equals_reinforce():
    # alpha = 1: the baseline stays at its initial 0, so a = r (plain REINFORCE).
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(64, generator=g)
    keys = [("arena", "role")] * 64
    rae = A.RAE(alpha=1.0)
    torch.testing.assert_close(rae(rewards, keys), A.reinforce(rewards), atol=0, rtol=0)
    assert rae.baselines == {("arena", "role"): 0.0}


def _one_role_episodes(rewards: list[float]) -> list[Episode]:
    eps = []
    for i, r in enumerate(rewards):
        turn = Turn("solo", 0, [1, 2], [3], [-0.1], "[x]", action="x")
        eps.append(Episode("arena", "task", i, [turn], [r], ["solo"]))
    return eps


def test_assigner_rae_alpha_one_equals_reinforce_assigner():
    g = torch.Generator().manual_seed(1)
    rewards = torch.randn(20, generator=g).tolist()
    rae = AdvantageAssigner(AdvantageConfig(estimator="rae", rae_alpha=1.0)).assign(_one_role_episodes(rewards))
    plain = AdvantageAssigner(AdvantageConfig(estimator="reinforce")).assign(_one_role_episodes(rewards))
    assert [s.advantage for s in rae] == pytest.approx([s.advantage for s in plain], abs=1e-6)
    assert [s.advantage for s in plain] == pytest.approx(rewards, abs=1e-6)


def test_estimator_names_are_the_contract():
    assert {"rae", "grpo", "dr_grpo", "maxrl", "trr_plus_plus", "reinforce_pp", "reinforce"} <= set(A.estimator_names())
    with pytest.raises(ValueError, match="unknown advantage estimator 'ppo'.*registered"):
        AdvantageConfig(estimator="ppo")
    with pytest.raises(ValueError, match=r"per_role\.solo\n.*unknown advantage estimator 'ppo'"):
        AdvantageConfig(per_role={"solo": "ppo"})


def test_every_builtin_takes_the_one_calling_convention():
    # est(rewards, groups, keys): each gets only what it names; results equal the pure functions
    r = torch.tensor([1.0, 0.0, 2.0, 5.0])
    groups, keys = ["a", "a", "b", "b"], ["k", "k", "k", "k"]
    torch.testing.assert_close(A.Estimator("grpo")(r, groups, keys), A.grpo(r, groups))
    torch.testing.assert_close(A.Estimator("trr_plus_plus")(r, groups, keys), A.trr_plus_plus(r, keys))
    torch.testing.assert_close(A.Estimator("reinforce_pp")(r, groups, keys), A.reinforce_pp(r))
    rae = A.Estimator("rae", {"alpha": 0.5})
    torch.testing.assert_close(rae(r, groups, keys), A.RAE(alpha=0.5)(r, keys))
    assert rae.state_dict()["alpha"] == 0.5 and A.Estimator("grpo").state_dict() == {}


def test_register_estimator_checks_signature_state_and_duplicates():
    @A.register_estimator("test_median")
    def median_baseline(rewards, keys):
        return rewards - rewards.median()

    assert "test_median" in A.estimator_names()
    torch.testing.assert_close(A.Estimator("test_median")(torch.tensor([1.0, 2.0, 9.0]), [0] * 3, [0] * 3),
                               torch.tensor([-1.0, 0.0, 7.0]))
    with pytest.raises(TypeError, match="may only take"):
        A.register_estimator("test_bad_args")(lambda rewards, temperature: rewards)
    with pytest.raises(TypeError, match="state_dict"):
        @A.register_estimator("test_stateless_class")
        class NoState:
            def __call__(self, rewards):
                return rewards
    with pytest.raises(ValueError, match="'test_median' is already registered by .*median_baseline"):
        A.register_estimator("test_median")(lambda rewards: rewards)
    with pytest.raises(ValueError, match="returned shape"):
        A.register_estimator("test_wrong_shape")(lambda rewards: rewards[:1])
        A.Estimator("test_wrong_shape")(torch.tensor([1.0, 2.0]), [0, 0], [0, 0])
