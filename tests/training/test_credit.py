"""`AdvantageAssigner.assign` on hand-built episodes: per-turn credit, retries, per-role estimators."""

from __future__ import annotations

import pytest

from sparring.training.credit import AdvantageAssigner, trajectories
from sparring.types import Episode, Sample, Turn

ROLES = ["game/p0", "game/p1"]


def turn(player: int, mark: int, *, trainable: bool = True, invalid: bool = False) -> Turn:
    """A turn whose completion id `mark` identifies it in the samples."""
    return Turn(
        role=ROLES[player], player=player, prompt_ids=[100 + mark, 7], completion_ids=[mark],
        logprobs=[-0.01 * mark], text="garbage" if invalid else "[x]",
        action=None if invalid else "x", invalid=invalid, trainable=trainable,
    )


def episode(turns, rewards, *, arena="arena", seed=0, **metadata) -> Episode:
    metadata.setdefault("forfeit", None)
    return Episode(arena, "game", seed, turns, list(rewards), list(ROLES), metadata)


def by_mark(samples: list[Sample]) -> dict[int, Sample]:
    out = {s.completion_ids[0]: s for s in samples}
    assert len(out) == len(samples), "each turn must give at most one sample"
    return out


def test_every_turn_of_a_player_gets_that_players_advantage():
    ep = episode([turn(0, 1), turn(1, 2), turn(0, 3), turn(1, 4)], [1.5, -1.5])
    s = by_mark(AdvantageAssigner("reinforce").assign([ep]))
    assert set(s) == {1, 2, 3, 4}
    assert s[1].advantage == s[3].advantage == pytest.approx(1.5)
    assert s[2].advantage == s[4].advantage == pytest.approx(-1.5)
    assert s[1].reward == 1.5 and s[2].reward == -1.5
    assert s[1].role == "game/p0" and s[2].role == "game/p1"
    assert s[1].key == ("arena", "game/p0") and s[4].key == ("arena", "game/p1")
    # the sample carries the turn's tokens and engine log-probs unchanged
    assert s[3].prompt_ids == [103, 7] and s[3].completion_ids == [3] and s[3].old_logprobs == [-0.03]


def test_gamma_discounts_turns_before_the_players_last():
    # P0 plays marks 1, 3, 5 (3 turns), P1 plays 2, 4 (2 turns); gamma = 0.5
    ep = episode([turn(0, 1), turn(1, 2), turn(0, 3), turn(1, 4), turn(0, 5)], [2.0, -2.0])
    s = by_mark(AdvantageAssigner("reinforce", gamma=0.5).assign([ep]))
    assert s[5].advantage == pytest.approx(2.0)  # last turn: 0.5**0
    assert s[3].advantage == pytest.approx(1.0)  # one before: 0.5**1
    assert s[1].advantage == pytest.approx(0.5)  # two before: 0.5**2
    assert s[4].advantage == pytest.approx(-2.0)
    assert s[2].advantage == pytest.approx(-1.0)
    # the sample reward stays the undiscounted trajectory reward
    assert s[1].reward == 2.0


def test_untrainable_turns_produce_no_samples():
    ep = episode([turn(0, 1, trainable=False), turn(1, 2), turn(0, 3, trainable=False), turn(1, 4)], [1.0, -1.0])
    s = by_mark(AdvantageAssigner("reinforce", gamma=0.5).assign([ep]))
    assert set(s) == {2, 4}
    # gamma counts only the learner's own turns
    assert s[4].advantage == pytest.approx(-1.0)
    assert s[2].advantage == pytest.approx(-0.5)


def test_no_trainable_turns_no_samples():
    ep = episode([turn(0, 1, trainable=False), turn(1, 2, trainable=False)], [1.0, -1.0])
    assert AdvantageAssigner("rae").assign([ep]) == []


def test_retried_invalid_attempt_is_its_own_sample_with_retry_penalty():
    # P0: invalid attempt (mark 1), retried successfully (mark 2); game goes on; P0 wins 1
    ep = episode([turn(0, 1, invalid=True), turn(0, 2), turn(1, 3), turn(0, 4)], [1.0, -1.0])
    s = by_mark(AdvantageAssigner("reinforce", gamma=0.5).assign([ep], retry_penalty=lambda arena: -0.7))
    assert set(s) == {1, 2, 3, 4}
    assert s[1].reward == pytest.approx(-0.7)
    assert s[1].advantage == pytest.approx(-0.7)  # its own one-turn trajectory, no discount
    # the retried attempt is not part of P0's game trajectory: marks 2, 4 are its two turns
    assert s[4].advantage == pytest.approx(1.0)
    assert s[2].advantage == pytest.approx(0.5)
    assert s[3].advantage == pytest.approx(-1.0)


def test_retry_penalty_is_looked_up_per_arena():
    eps = [
        episode([turn(0, 1, invalid=True), turn(0, 2), turn(1, 3)], [1.0, -1.0], arena="A"),
        episode([turn(0, 4, invalid=True), turn(0, 5), turn(1, 6)], [1.0, -1.0], arena="B"),
    ]
    s = by_mark(AdvantageAssigner("reinforce").assign(eps, retry_penalty={"A": -0.25, "B": -3.0}.__getitem__))
    assert s[1].reward == pytest.approx(-0.25) and s[1].key == ("A", "game/p0")
    assert s[4].reward == pytest.approx(-3.0) and s[4].key == ("B", "game/p0")


def test_forfeit_after_retries():
    # retries=1: P0 fails (mark 2), retries and fails again (mark 3) -> forfeit; arena rule
    # gave rewards [-2, 0.5]. Mark 2 was retried (retry penalty); mark 3 is the forfeiting turn
    # and carries the episode reward together with P0's earlier valid turn (mark 1).
    ep = episode([turn(0, 1), turn(1, 5), turn(0, 2, invalid=True), turn(0, 3, invalid=True)], [-2.0, 0.5], forfeit=0)
    s = by_mark(AdvantageAssigner("reinforce", gamma=0.5).assign([ep], retry_penalty=lambda arena: -0.7))
    assert set(s) == {1, 2, 3, 5}
    assert s[2].reward == pytest.approx(-0.7) and s[2].advantage == pytest.approx(-0.7)
    assert s[3].reward == -2.0 and s[3].advantage == pytest.approx(-2.0)
    assert s[1].advantage == pytest.approx(-1.0)
    assert s[5].advantage == pytest.approx(0.5)


def test_per_role_estimator_choice():
    # p0 uses the default (reinforce), p1 uses dr_grpo over its key (arena, game/p1)
    eps = [
        episode([turn(0, 1), turn(1, 2)], [1.0, -1.0], seed=0),
        episode([turn(0, 3), turn(1, 4)], [-3.0, 3.0], seed=1),
    ]
    assigner = AdvantageAssigner("reinforce", per_role={"game/p1": "dr_grpo"})
    assert assigner.estimator_for("game/p0") == "reinforce"
    assert assigner.estimator_for("game/p1") == "dr_grpo"
    s = by_mark(assigner.assign(eps))
    assert s[1].advantage == pytest.approx(1.0)
    assert s[3].advantage == pytest.approx(-3.0)
    # p1 rewards [-1, 3]: mean 1 -> [-2, 2]
    assert s[2].advantage == pytest.approx(-2.0)
    assert s[4].advantage == pytest.approx(2.0)


def test_rae_keys_are_arena_and_role():
    # alpha = 0.5; the same role name in two arenas has two baselines
    eps = [
        episode([turn(0, 1), turn(1, 2)], [2.0, -2.0], arena="A"),
        episode([turn(0, 3), turn(1, 4)], [4.0, -4.0], arena="B"),
        episode([turn(0, 5), turn(1, 6)], [0.0, 0.0], arena="A"),
    ]
    assigner = AdvantageAssigner("rae", rae_alpha=0.5)
    s = by_mark(assigner.assign(eps))
    assert s[1].advantage == pytest.approx(2.0)  # b(A,p0)=0
    assert s[3].advantage == pytest.approx(4.0)  # b(B,p0)=0, not 1
    assert s[5].advantage == pytest.approx(-1.0)  # b(A,p0)=0.5*0+0.5*2=1
    assert s[6].advantage == pytest.approx(1.0)  # b(A,p1)=-1
    assert assigner.rae.baselines[("A", "game/p0")] == pytest.approx(0.5)
    assert assigner.rae.baselines[("B", "game/p1")] == pytest.approx(-2.0)
    # the assigner's state survives a round trip
    other = AdvantageAssigner("rae", rae_alpha=0.5)
    other.load_state_dict(assigner.state_dict())
    assert other.rae.baselines == assigner.rae.baselines


def test_group_tag_splits_grpo_groups():
    # grpo groups by (arena, role, metadata['group']): two tags normalise separately
    eps = [
        episode([turn(0, 1), turn(1, 2)], [1.0, -1.0], group="g1"),
        episode([turn(0, 3), turn(1, 4)], [0.0, 0.0], group="g1"),
        episode([turn(0, 5), turn(1, 6)], [10.0, -10.0], group="g2"),
        episode([turn(0, 7), turn(1, 8)], [10.0, -10.0], group="g2"),
    ]
    s = by_mark(AdvantageAssigner("dr_grpo").assign(eps))
    assert s[1].advantage == pytest.approx(0.5) and s[3].advantage == pytest.approx(-0.5)
    assert s[5].advantage == pytest.approx(0.0) and s[7].advantage == pytest.approx(0.0)
    assert s[2].advantage == pytest.approx(-0.5) and s[4].advantage == pytest.approx(0.5)


def test_trajectories_shape():
    ep = episode([turn(0, 1, invalid=True), turn(0, 2), turn(1, 3)], [1.0, -1.0])
    trajs = trajectories([ep], lambda arena: -0.5)
    got = sorted((t.role, [x.completion_ids[0] for x in t.turns], t.reward) for t in trajs)
    assert got == [("game/p0", [1], -0.5), ("game/p0", [2], 1.0), ("game/p1", [3], -1.0)]


def at(player: int, mark: int, state: int) -> Turn:
    """A turn whose prompt is `state`: equal states mean the same position was seen."""
    t = turn(player, mark)
    t.prompt_ids = [state, 7]
    return t


def test_state_baseline_credits_a_move_against_the_mean_return_from_its_state():
    # P0 meets state 50 in both games, wins the first and loses the second; its later turns and
    # P1's turns are in states seen once, which fall back to the role's RAE baseline.
    ep1 = episode([at(0, 1, 50), at(1, 2, 60), at(0, 3, 70)], [1.0, -1.0])
    ep2 = episode([at(0, 4, 50), at(1, 5, 61), at(0, 6, 71)], [-1.0, 1.0])
    assigner = AdvantageAssigner("rae", rae_alpha=0.5, baseline="state")
    s = by_mark(assigner.assign([ep1, ep2]))
    # role baselines before each trajectory: P0 0 then 0.5, P1 0 then -0.5 (RAE, alpha 0.5)
    # state 50: (other return + prior * role baseline) / (1 + prior), prior 1
    assert s[1].advantage == pytest.approx(1.0 - (-1.0 + 0.0) / 2)  # 1.5
    assert s[4].advantage == pytest.approx(-1.0 - (1.0 + 0.5) / 2)  # -1.75
    assert s[3].advantage == pytest.approx(1.0 - 0.0)  # unseen state: RAE's advantage
    assert s[6].advantage == pytest.approx(-1.0 - 0.5)
    assert s[2].advantage == pytest.approx(-1.0) and s[5].advantage == pytest.approx(1.0 + 0.5)
    # the role baseline alone gives every turn of a trajectory the same advantage
    plain = by_mark(AdvantageAssigner("rae", rae_alpha=0.5).assign([ep1, ep2]))
    assert plain[1].advantage == plain[3].advantage == pytest.approx(1.0)


def test_state_baseline_remembers_states_across_batches_and_round_trips():
    import json

    a = AdvantageAssigner("rae", rae_alpha=0.5, baseline="state", state_decay=0.5)
    a.assign([episode([at(0, 1, 50), at(1, 2, 60)], [1.0, -1.0])])
    restored = AdvantageAssigner("rae", rae_alpha=0.5, baseline="state", state_decay=0.5)
    restored.load_state_dict(json.loads(json.dumps(a.state_dict())))
    later = [episode([at(0, 3, 50), at(1, 4, 62)], [0.0, 0.0])]
    s, r = by_mark(a.assign(later)), by_mark(restored.assign(later))
    # state 50 was seen once with return 1 (weight 1); role baseline for P0 is now 0.5
    assert s[3].advantage == r[3].advantage == pytest.approx(0.0 - (1.0 + 0.5) / 2)


def test_return_discount_pays_a_sooner_win_more_than_a_later_one():
    # Both games pass P0 through state 50 and P0 wins both: at discount 1 the move from 50 gets
    # the same credit either way; discounted, the move that won at once (game 1) beats the one
    # whose win came a turn later (game 2), and each move's return is reward * 0.5**turns_left.
    ep1 = episode([at(0, 1, 50), at(1, 2, 60)], [1.0, -1.0])
    ep2 = episode([at(0, 3, 50), at(1, 4, 61), at(0, 5, 70)], [1.0, -1.0])
    flat = by_mark(AdvantageAssigner("rae", rae_alpha=0.5, baseline="state").assign([ep1, ep2]))
    assert flat[1].advantage == pytest.approx(1.0 - (1.0 + 0.0) / 2)
    assert flat[3].advantage == pytest.approx(1.0 - (1.0 + 0.5) / 2)
    s = by_mark(AdvantageAssigner("rae", rae_alpha=0.5, baseline="state", return_discount=0.5).assign([ep1, ep2]))
    # state 50: the other game's discounted return and the prior (role baseline, discounted alike)
    assert s[1].advantage == pytest.approx(1.0 - (0.5 + 0.0) / 2)  # 0.75
    assert s[3].advantage == pytest.approx(0.5 - (1.0 + 0.5 * 0.5) / 2)  # -0.125
    assert s[5].advantage == pytest.approx(1.0 - 0.5)  # last turn: undiscounted, unseen state
    # P1 lost game 2 on its only turn (its last): a loss right away is not discounted
    assert s[4].advantage == pytest.approx(-1.0 - (-0.5))


def test_td_lambda_bootstraps_from_the_value_of_the_next_own_state():
    # P0 reaches state 70 in both games from different first states (50, 51), wins game 1 and
    # loses game 2 from it: at lambda 0 each first move is credited with the value of state 70
    # (its two returns and the prior, the role baseline), not with how its own game ended.
    ep1 = episode([at(0, 1, 50), at(1, 2, 60), at(0, 3, 70)], [1.0, -1.0])
    ep2 = episode([at(0, 4, 51), at(1, 5, 61), at(0, 6, 70)], [-1.0, 1.0])

    def credit(lam):
        return by_mark(AdvantageAssigner("rae", rae_alpha=0.5, baseline="state", td_lambda=lam).assign([ep1, ep2]))

    # P0's role baseline (RAE, alpha 0.5): 0 for game 1, 0.5 for game 2; prior 1.
    # V(70) per sample = (1 + -1 + prior * its fallback) / (2 + prior): 0 in game 1, 1/6 in game 2
    td0, half, mc = credit(0.0), credit(0.5), credit(1.0)
    assert mc[1].advantage == pytest.approx(1.0 - 0.0) and mc[4].advantage == pytest.approx(-1.0 - 0.5)
    assert td0[1].advantage == pytest.approx(0.0 - 0.0)
    assert td0[4].advantage == pytest.approx(1 / 6 - 0.5)
    assert half[1].advantage == pytest.approx(0.5 * 0.0 + 0.5 * 1.0 - 0.0)
    assert half[4].advantage == pytest.approx(0.5 * (1 / 6) + 0.5 * -1.0 - 0.5)
    # the last turns end the game: their target is the reward at any lambda
    for s in (td0, half):
        assert s[3].advantage == pytest.approx(mc[3].advantage) == pytest.approx(1.0 - (-1.0 + 0.0) / 2)
        assert s[6].advantage == pytest.approx(mc[6].advantage) == pytest.approx(-1.0 - (1.0 + 0.5) / 2)


def test_retried_attempts_keep_the_role_baseline_under_the_state_baseline():
    ep = episode([at(0, 1, 50), turn(0, 2, invalid=True), at(0, 3, 50), at(1, 4, 60)], [1.0, -1.0])
    s = by_mark(AdvantageAssigner("rae", rae_alpha=0.5, baseline="state").assign([ep], lambda arena: -2.0))
    assert s[2].advantage == pytest.approx(-2.0)  # the retry: penalty minus P0's role baseline (0)


def test_unknown_baseline_is_rejected():
    with pytest.raises(ValueError, match="baseline"):
        AdvantageAssigner("rae", baseline="critic")
