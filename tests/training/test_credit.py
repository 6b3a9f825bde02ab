"""`AdvantageAssigner.assign` on hand-built episodes: per-turn credit, retries, per-role estimators,
per-turn rewards and the state baseline (with any estimator)."""

from __future__ import annotations

import pytest

from sparring.config import AdvantageConfig, CreditConfig
from sparring.training.credit import AdvantageAssigner, trajectories
from sparring.types import Episode, Sample, Turn

ROLES = ["game/p0", "game/p1"]


def assigner(estimator: str = "rae", *, per_role=None, rae_alpha: float = 0.95, **credit) -> AdvantageAssigner:
    return AdvantageAssigner(AdvantageConfig(estimator=estimator, per_role=per_role or {}, rae_alpha=rae_alpha),
                             CreditConfig(**credit))


def turn(player: int, mark: int, *, trainable: bool = True, invalid: bool = False, retried: float | None = None,
         reward: float | None = None) -> Turn:
    """A turn whose completion id `mark` identifies it in the samples; `retried=p`: a failed
    attempt that was retried, with retry penalty p."""
    return Turn(
        role=ROLES[player], player=player, prompt_ids=[100 + mark, 7], completion_ids=[mark],
        logprobs=[-0.01 * mark], text="garbage" if invalid or retried is not None else "[x]",
        action=None if invalid or retried is not None else "x", invalid=invalid or retried is not None,
        trainable=trainable, retried=retried is not None, reward=retried if retried is not None else reward,
    )


def episode(turns, rewards, *, arena="arena", seed=0, forfeit=None, group=None) -> Episode:
    return Episode(arena, "game", seed, turns, list(rewards), list(ROLES), forfeit=forfeit, group=group)


def by_mark(samples: list[Sample]) -> dict[int, Sample]:
    out = {s.completion_ids[0]: s for s in samples}
    assert len(out) == len(samples), "each turn must give at most one sample"
    return out


def test_every_turn_of_a_player_gets_that_players_advantage():
    ep = episode([turn(0, 1), turn(1, 2), turn(0, 3), turn(1, 4)], [1.5, -1.5])
    s = by_mark(assigner("reinforce").assign([ep]))
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
    s = by_mark(assigner("reinforce", gamma=0.5).assign([ep]))
    assert s[5].advantage == pytest.approx(2.0)  # last turn: 0.5**0
    assert s[3].advantage == pytest.approx(1.0)  # one before: 0.5**1
    assert s[1].advantage == pytest.approx(0.5)  # two before: 0.5**2
    assert s[4].advantage == pytest.approx(-2.0)
    assert s[2].advantage == pytest.approx(-1.0)
    # the sample reward stays the undiscounted trajectory reward
    assert s[1].reward == 2.0


def test_untrainable_turns_produce_no_samples():
    ep = episode([turn(0, 1, trainable=False), turn(1, 2), turn(0, 3, trainable=False), turn(1, 4)], [1.0, -1.0])
    s = by_mark(assigner("reinforce", gamma=0.5).assign([ep]))
    assert set(s) == {2, 4}
    # gamma counts only the learner's own turns
    assert s[4].advantage == pytest.approx(-1.0)
    assert s[2].advantage == pytest.approx(-0.5)


def test_no_trainable_turns_no_samples():
    ep = episode([turn(0, 1, trainable=False), turn(1, 2, trainable=False)], [1.0, -1.0])
    assert assigner("rae").assign([ep]) == []


def test_retried_invalid_attempt_is_its_own_sample_with_retry_penalty():
    # P0: invalid attempt (mark 1), retried successfully (mark 2); game goes on; P0 wins 1
    ep = episode([turn(0, 1, retried=-0.7), turn(0, 2), turn(1, 3), turn(0, 4)], [1.0, -1.0])
    s = by_mark(assigner("reinforce", gamma=0.5).assign([ep]))
    assert set(s) == {1, 2, 3, 4}
    assert s[1].reward == pytest.approx(-0.7)
    assert s[1].advantage == pytest.approx(-0.7)  # its own one-turn trajectory, no discount
    # the retried attempt is not part of P0's game trajectory: marks 2, 4 are its two turns
    assert s[4].advantage == pytest.approx(1.0)
    assert s[2].advantage == pytest.approx(0.5)
    assert s[3].advantage == pytest.approx(-1.0)


def test_a_retried_turn_without_its_reward_is_an_error_naming_the_arena():
    bad = turn(0, 1, invalid=True)
    bad.retried = True
    with pytest.raises(ValueError, match="arena 'A'.*retry penalty"):
        assigner("reinforce").assign([episode([bad, turn(0, 2), turn(1, 3)], [1.0, -1.0], arena="A")])


def test_forfeit_after_retries():
    # retries=1: P0 fails (mark 2), retries and fails again (mark 3) -> forfeit; arena rule
    # gave rewards [-2, 0.5]. Mark 2 was retried (retry penalty); mark 3 is the forfeiting turn
    # and carries the episode reward together with P0's earlier valid turn (mark 1).
    ep = episode([turn(0, 1), turn(1, 5), turn(0, 2, retried=-0.7), turn(0, 3, invalid=True)], [-2.0, 0.5], forfeit=0)
    s = by_mark(assigner("reinforce", gamma=0.5).assign([ep]))
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
    a = assigner("reinforce", per_role={"game/p1": "dr_grpo"})
    assert a.estimator_for("game/p0") == "reinforce"
    assert a.estimator_for("game/p1") == "dr_grpo"
    s = by_mark(a.assign(eps))
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
    a = assigner("rae", rae_alpha=0.5)
    s = by_mark(a.assign(eps))
    assert s[1].advantage == pytest.approx(2.0)  # b(A,p0)=0
    assert s[3].advantage == pytest.approx(4.0)  # b(B,p0)=0, not 1
    assert s[5].advantage == pytest.approx(-1.0)  # b(A,p0)=0.5*0+0.5*2=1
    assert s[6].advantage == pytest.approx(1.0)  # b(A,p1)=-1
    assert a.rae.baselines[("A", "game/p0")] == pytest.approx(0.5)
    assert a.rae.baselines[("B", "game/p1")] == pytest.approx(-2.0)
    # the assigner's state survives a round trip
    other = assigner("rae", rae_alpha=0.5)
    other.load_state_dict(a.state_dict())
    assert other.rae.baselines == a.rae.baselines
    # a resumed run that changes rae_alpha goes on with the config's value, from the saved baselines
    changed = assigner("rae", rae_alpha=0.8)
    changed.load_state_dict(a.state_dict())
    assert changed.rae.alpha == 0.8 and changed.rae.baselines == a.rae.baselines


def test_group_tag_splits_grpo_groups():
    # grpo groups by (arena, role, Episode.group): two groups normalise separately
    eps = [
        episode([turn(0, 1), turn(1, 2)], [1.0, -1.0], group="g1"),
        episode([turn(0, 3), turn(1, 4)], [0.0, 0.0], group="g1"),
        episode([turn(0, 5), turn(1, 6)], [10.0, -10.0], group="g2"),
        episode([turn(0, 7), turn(1, 8)], [10.0, -10.0], group="g2"),
    ]
    s = by_mark(assigner("dr_grpo").assign(eps))
    assert s[1].advantage == pytest.approx(0.5) and s[3].advantage == pytest.approx(-0.5)
    assert s[5].advantage == pytest.approx(0.0) and s[7].advantage == pytest.approx(0.0)
    assert s[2].advantage == pytest.approx(-0.5) and s[4].advantage == pytest.approx(0.5)


def test_trajectories_shape():
    ep = episode([turn(0, 1, retried=-0.5), turn(0, 2), turn(1, 3)], [1.0, -1.0])
    trajs = trajectories([ep])
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
    a = assigner("rae", rae_alpha=0.5, baseline="state")
    s = by_mark(a.assign([ep1, ep2]))
    # role baselines before each trajectory: P0 0 then 0.5, P1 0 then -0.5 (RAE, alpha 0.5)
    # state 50: (other return + prior * role baseline) / (1 + prior), prior 1
    assert s[1].advantage == pytest.approx(1.0 - (-1.0 + 0.0) / 2)  # 1.5
    assert s[4].advantage == pytest.approx(-1.0 - (1.0 + 0.5) / 2)  # -1.75
    assert s[3].advantage == pytest.approx(1.0 - 0.0)  # unseen state: RAE's advantage
    assert s[6].advantage == pytest.approx(-1.0 - 0.5)
    assert s[2].advantage == pytest.approx(-1.0) and s[5].advantage == pytest.approx(1.0 + 0.5)
    # the role baseline alone gives every turn of a trajectory the same advantage
    plain = by_mark(assigner("rae", rae_alpha=0.5).assign([ep1, ep2]))
    assert plain[1].advantage == plain[3].advantage == pytest.approx(1.0)


def test_state_baseline_remembers_states_across_batches_and_round_trips():
    import json

    a = assigner("rae", rae_alpha=0.5, baseline="state", state_decay=0.5)
    a.assign([episode([at(0, 1, 50), at(1, 2, 60)], [1.0, -1.0])])
    restored = assigner("rae", rae_alpha=0.5, baseline="state", state_decay=0.5)
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
    flat = by_mark(assigner("rae", rae_alpha=0.5, baseline="state").assign([ep1, ep2]))
    assert flat[1].advantage == pytest.approx(1.0 - (1.0 + 0.0) / 2)
    assert flat[3].advantage == pytest.approx(1.0 - (1.0 + 0.5) / 2)
    s = by_mark(assigner("rae", rae_alpha=0.5, baseline="state", return_discount=0.5).assign([ep1, ep2]))
    # state 50: the other game's discounted return and the prior (role baseline, discounted alike)
    assert s[1].advantage == pytest.approx(1.0 - (0.5 + 0.0) / 2)  # 0.75
    assert s[3].advantage == pytest.approx(0.5 - (1.0 + 0.5 * 0.5) / 2)  # -0.125
    assert s[5].advantage == pytest.approx(1.0 - 0.5)  # last turn: undiscounted, unseen state
    # P1 lost game 2 on its only turn (its last): a loss right away is not discounted
    assert s[4].advantage == pytest.approx(-1.0 - (-0.5))


def test_retried_attempts_keep_the_role_baseline_under_the_state_baseline():
    ep = episode([at(0, 1, 50), turn(0, 2, retried=-2.0), at(0, 3, 50), at(1, 4, 60)], [1.0, -1.0])
    s = by_mark(assigner("rae", rae_alpha=0.5, baseline="state").assign([ep]))
    assert s[2].advantage == pytest.approx(-2.0)  # the retry: penalty minus P0's role baseline (0)


def test_unknown_baseline_is_rejected():
    with pytest.raises(ValueError, match="baseline"):
        assigner("rae", baseline="critic")


def test_per_turn_rewards_add_to_the_return_and_to_each_turns_return_to_go():
    # P0's turns carry immediate rewards 0.5 (mark 1) and 0.25 (mark 3), final reward 1.
    # reinforce: a = R = 1 + 0.5 + 0.25 = 1.75; turn k gets a + (G_k - G_0), G_0 = 1.75, G_1 = 1.25
    ep = episode([turn(0, 1, reward=0.5), turn(1, 2), turn(0, 3, reward=0.25)], [1.0, -1.0])
    s = by_mark(assigner("reinforce").assign([ep]))
    assert s[1].reward == pytest.approx(1.75) and s[1].advantage == pytest.approx(1.75)
    assert s[3].advantage == pytest.approx(1.25)
    assert s[2].advantage == pytest.approx(-1.0)
    # with gamma 0.5 on top: the earlier turn is discounted once more
    g = by_mark(assigner("reinforce", gamma=0.5).assign([ep]))
    assert g[1].advantage == pytest.approx(1.75 * 0.5) and g[3].advantage == pytest.approx(1.25)


def test_state_baseline_works_with_any_estimator():
    # dr_grpo over P0's key: rewards 1 and -1 -> a = 1 and -1, implied baseline r - a = 0 for both.
    # State 50 is shared: each move is credited against the other game's return (and prior 0).
    ep1 = episode([at(0, 1, 50), at(1, 2, 60), at(0, 3, 70)], [1.0, -1.0])
    ep2 = episode([at(0, 4, 50), at(1, 5, 61), at(0, 6, 71)], [-1.0, 1.0])
    s = by_mark(assigner("dr_grpo", baseline="state").assign([ep1, ep2]))
    assert s[1].advantage == pytest.approx(1.0 - (-1.0 + 0.0) / 2)
    assert s[4].advantage == pytest.approx(-1.0 - (1.0 + 0.0) / 2)
    assert s[3].advantage == pytest.approx(1.0) and s[6].advantage == pytest.approx(-1.0)  # unseen: a itself


# ----- over-long completions (sampling.overlong) --------------------------------------------------
class _ScriptedEngine:
    """Answers each request with the next (text, finish_reason)."""

    def __init__(self, tokenizer, answers) -> None:
        self.tokenizer, self.answers = tokenizer, list(answers)

    async def generate(self, prompt_ids, sampling):
        from sparring.types import Generation

        text, finish = self.answers.pop(0)
        return Generation(list(prompt_ids), [11, 12], [-0.5, -0.5], text, finish)


def _kuhn_episode(tokenizer, answers, fmt="think", retries=0):
    """One Kuhn Poker self-play game through EnginePolicy (think-format roles) on scripted answers."""
    import asyncio

    from sparring.agents.policies import EnginePolicy
    from sparring.agents.prompting import PromptConfig, seat_roles_for
    from sparring.arenas import GameArena, InvalidActionRule
    from sparring.types import SamplingParams

    roles = seat_roles_for(PromptConfig(answer_format=fmt), "kuhn_poker", 2, SamplingParams(4), tokenizer=tokenizer)
    arena = GameArena("kuhn", "kuhn_poker", roles, EnginePolicy(_ScriptedEngine(tokenizer, answers)),
                      invalid=InvalidActionRule(penalty=-1.0, opponent_reward=0.0, retries=retries, retry_penalty=-2.0))
    return asyncio.run(arena.play(0))


CUT_OFF = ("<think>If I [bet] here, p0 folds; but \\boxed{bet} is", "length")  # reasoning cut off at the cap
CHECK = ("<think>weak card</think>\\boxed{check}", "stop")


@pytest.mark.parametrize("rule", ["invalid", "mask"])
def test_cut_off_reasoning_is_invalid_under_both_rules_and_masked_only_under_mask(tokenizer, rule):
    from sparring.training.rollout import summarize

    ep = _kuhn_episode(tokenizer, [CHECK, CUT_OFF])
    first, cut = ep.turns
    assert first.action == "check" and not first.truncated
    assert cut.truncated and cut.invalid and cut.action is None  # no action whatever the rule
    assert ep.forfeit == 1 and ep.rewards == [0.0, -1.0]  # the game's invalid-action rule applies
    samples = AdvantageAssigner(AdvantageConfig(estimator="reinforce"), overlong=rule).assign([ep])
    by_role = {s.role: s for s in samples}
    stats = summarize([ep], 1.0, rule)
    assert stats["rollout/truncated_rate"] == 0.5
    if rule == "invalid":  # trained like any invalid answer, with the penalty
        assert set(by_role) == {"kuhn_poker/p0", "kuhn_poker/p1"}
        assert by_role["kuhn_poker/p1"].advantage == pytest.approx(-1.0)
        assert "rollout/overlong_masked_rate" not in stats
    else:  # kept out of the loss, and counted
        assert set(by_role) == {"kuhn_poker/p0"}
        assert stats["rollout/overlong_masked_rate"] == 0.5


def test_mask_keeps_unfinished_but_stopped_reasoning_in_the_loss(tokenizer):
    """An unclosed <think> that ended with end-of-turn was not cut off: an ordinary invalid answer."""
    ep = _kuhn_episode(tokenizer, [CHECK, ("<think>no end to this thought", "stop")])
    assert ep.turns[1].invalid and not ep.turns[1].truncated
    samples = AdvantageAssigner(AdvantageConfig(estimator="reinforce"), overlong="mask").assign([ep])
    assert {s.role for s in samples} == {"kuhn_poker/p0", "kuhn_poker/p1"}


def test_mask_drops_a_cut_off_retried_attempt(tokenizer):
    ep = _kuhn_episode(tokenizer, [CHECK, CUT_OFF, ("<think>ok</think>\\boxed{check}", "stop")], retries=1)
    assert [t.retried for t in ep.turns] == [False, True, False] and ep.forfeit is None
    invalid = AdvantageAssigner(AdvantageConfig(estimator="reinforce"), overlong="invalid").assign([ep])
    masked = AdvantageAssigner(AdvantageConfig(estimator="reinforce"), overlong="mask").assign([ep])
    assert len(invalid) == 3 and any(s.reward == -2.0 for s in invalid)  # the retry penalty, trained
    assert len(masked) == 2 and all(s.reward != -2.0 for s in masked)


def test_overlong_rule_is_validated():
    from sparring.config import ConfigError, load_config

    with pytest.raises(ValueError, match="sampling.overlong"):
        AdvantageAssigner(overlong="drop")
    with pytest.raises(ConfigError, match=r"sampling\.overlong"):
        load_config(data={"arenas": [{"name": "k", "game": "kuhn_poker"}], "sampling": {"overlong": "drop"}})
    cfg = load_config(data={"arenas": [{"name": "k", "game": "kuhn_poker"}], "sampling": {"overlong": "mask"}})
    assert cfg.sampling.overlong == "mask"
