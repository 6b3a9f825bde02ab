"""Role parsing of model text, and the game arena under malformed answers, retries and opponents."""

from __future__ import annotations

import asyncio
import json

import pytest

from sparring.agents import RandomPolicy, Role, ScriptedPolicy, seat_roles
from sparring.arenas import GameArena, InvalidActionRule
from sparring.types import SamplingParams

LEGAL = ["check", "bet"]
ROLE = Role("kuhn_poker/p0")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[bet]", "bet"),
        ("[check]", "check"),
        ("[BET]", "bet"),  # case-insensitive, returns the canonical string
        ("[ Check ]", "check"),
        ("bet", "bet"),  # a bare word is the answer
        ("  Bet \n", "bet"),
        ("I think I will [bet] here", "bet"),
        ("[bet] and then [check]", "bet"),  # the first bracketed span decides
        ("[[bet]]", "bet"),
        ("[bet] 🎲✓", "bet"),
        ("[call]", None),  # a real action, but not legal now
        ("[raise]", None),
        ("I will bet", None),  # no brackets: the whole text must be the action
        ("garbage", None),
        ("", None),
        ("   ", None),
        ("[]", None),
        ("bet]", None),
        ("[bet", None),
        ("[be\nt]", None),
        ("[bét]", None),
        ("【bet】", None),
        ("ＢＥＴ", None),
        ("\x00[\x00]", None),
        ("[" + "x" * 5000 + "]", None),
    ],
)
def test_role_parse(text, expected):
    assert ROLE.parse(text, LEGAL) == expected


def test_role_parse_very_long_text():
    assert ROLE.parse("blah " * 200_000 + "[bet]", LEGAL) == "bet"
    assert ROLE.parse("x" * 1_000_000, LEGAL) is None
    assert ROLE.parse("[" * 100_000 + "]" * 100_000, LEGAL) is None


def test_role_parse_free_text():
    assert ROLE.parse("[hello world]", None) == "hello world"
    assert ROLE.parse("just text", None) == "just text"
    assert ROLE.parse("", None) is None
    assert ROLE.parse("[  ]", None) is None
    assert ROLE.parse("  ", None) is None


def test_role_format_round_trip():
    for action in LEGAL + ["fold", "call"]:
        assert ROLE.parse(ROLE.format_action(action), LEGAL + ["fold", "call"]) == action


def test_role_messages():
    role = Role("r", system_prompt="be brief", user_template="obs: {observation}!")
    assert role.messages("X") == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "obs: X!"}]
    assert Role("r").messages("Y")[0]["role"] == "user" and "Y" in Role("r").messages("Y")[0]["content"]


def test_seat_roles():
    s = SamplingParams(max_new_tokens=3)
    roles = seat_roles("kuhn_poker", 2, s)
    assert [r.name for r in roles] == ["kuhn_poker/p0", "kuhn_poker/p1"]
    assert all(r.sampling == s for r in roles)
    shared = seat_roles("kuhn_poker", 2, s, shared=True)
    assert len(shared) == 2 and shared[0].name == shared[1].name


# ----- the arena ---------------------------------------------------------------------------------
ROLES = seat_roles("kuhn_poker", 2, SamplingParams(max_new_tokens=4))


def run(coro):
    return asyncio.run(coro)


def legal_first(obs, legal):
    return f"[{legal[0]}]"


def per_seat(p0_answer, p1_answer):
    """A script that answers by the seat named in the observation ('You are P0.')."""

    def script(obs, legal):
        answer = p0_answer if "You are P0." in obs else p1_answer
        return answer(obs, legal) if callable(answer) else answer

    return script


@pytest.mark.parametrize("bad", ["garbage", "", "[call]", "[fold]", "x" * 200_000, "[" * 5000, "🂡 all in 🂡", None])
@pytest.mark.parametrize("seat", [0, 1])
def test_malformed_answers_forfeit_by_the_rule(bad, seat):
    rule = InvalidActionRule(penalty=-3.0, opponent_reward=0.5)
    answers = [legal_first, legal_first]
    answers[seat] = "\x00" if bad is None else bad
    arena = GameArena("k", "kuhn_poker", ROLES, ScriptedPolicy(per_seat(*answers), trainable=True), invalid=rule)
    ep = run(arena.play(seed=5))
    assert ep.forfeit == seat
    expected = [0.5, 0.5]
    expected[seat] = -3.0
    assert ep.rewards == expected
    assert ep.metadata["invalid_attempts"] == 1
    assert ep.turns[-1].invalid and ep.turns[-1].action is None and ep.turns[-1].player == seat
    assert sum(t.invalid for t in ep.turns) == 1
    assert ep.metadata["game_turns"] == seat  # P1 forfeits after P0's one legal move


def test_retries_then_legal_answer_continues_the_game():
    calls = {"n": 0}

    def script(obs, legal):
        calls["n"] += 1
        return "nonsense" if calls["n"] <= 2 else "[check]"

    rule = InvalidActionRule(penalty=-5.0, retries=2, retry_penalty=-0.25)
    arena = GameArena("k", "kuhn_poker", ROLES, ScriptedPolicy(script, trainable=True), invalid=rule)
    ep = run(arena.play(seed=1))
    assert ep.forfeit is None
    assert ep.metadata["invalid_attempts"] == 2
    assert [t.invalid for t in ep.turns] == [True, True, False, False]
    assert [t.action for t in ep.turns] == [None, None, "check", "check"]
    assert [t.player for t in ep.turns] == [0, 0, 0, 1]
    assert [t.retried for t in ep.turns] == [True, True, False, False]
    assert [t.reward for t in ep.turns[:2]] == [-0.25, -0.25]
    assert ep.metadata["game_turns"] == 2
    # check-check showdown: rewards are the game's, not the rule's
    assert sorted(ep.rewards) == [-1.0, 1.0]


def test_retries_exhausted_forfeit():
    rule = InvalidActionRule(penalty=-2.0, opponent_reward=1.0, retries=2)
    arena = GameArena("k", "kuhn_poker", ROLES, ScriptedPolicy(per_seat(legal_first, "nope"), trainable=True), invalid=rule)
    ep = run(arena.play(seed=0))
    assert ep.forfeit == 1
    assert ep.metadata["invalid_attempts"] == 3  # 1 + 2 retries
    assert ep.rewards == [1.0, -2.0]
    assert [t.player for t in ep.turns] == [0, 1, 1, 1]
    assert [t.retried for t in ep.turns] == [False, True, True, False]  # the last attempt forfeits
    assert [t.reward for t in ep.turns[1:3]] == [rule.retry_penalty] * 2


def test_arena_episode_fields():
    arena = GameArena("my_arena", "kuhn_poker", ROLES, ScriptedPolicy(legal_first, trainable=True), game_options={"hands": 2})
    ep = run(arena.play(seed=11))
    assert ep.arena == "my_arena" and ep.task == "kuhn_poker" and ep.seed == 11
    assert ep.roles == ["kuhn_poker/p0", "kuhn_poker/p1"]
    assert ep.forfeit is None and ep.learner_seats is None
    assert ep.metadata["game_turns"] == len(ep.turns) == 4  # check, check per hand
    assert all(t.trainable for t in ep.turns)
    assert [t.role for t in ep.turns] == [ROLES[t.player].name for t in ep.turns]
    assert sum(ep.rewards) == 0 and ep.to_json()["rewards"] == ep.rewards


def test_arena_rejects_wrong_number_of_roles():
    with pytest.raises(ValueError):
        GameArena("k", "kuhn_poker", ROLES[:1], RandomPolicy())


def test_fixed_opponent_learner_seat_alternates_and_only_learner_trains():
    learner = ScriptedPolicy(legal_first, trainable=True)
    arena = GameArena("k", "kuhn_poker", ROLES, learner, opponent=RandomPolicy(seed=3), game_options={"hands": 2})

    async def many():
        return await asyncio.gather(*[arena.play(seed) for seed in range(12)])

    seats = []
    for seed, ep in enumerate(run(many())):
        assert ep.learner_seats == [seed % 2]
        seat = ep.learner_seats[0]
        seats.append(seat)
        assert ep.turns, "a game has turns"
        for t in ep.turns:
            assert t.trainable == (t.player == seat)
        assert {t.player for t in ep.turns} == {0, 1}
        # the learner always answers legal[0]; the random opponent produced legal answers too
        assert all(not t.invalid for t in ep.turns)
    assert set(seats) == {0, 1}


def test_self_play_every_seat_is_the_learner():
    arena = GameArena("k", "kuhn_poker", ROLES, ScriptedPolicy(legal_first, trainable=True))
    assert arena.learner_seat(0) is None and arena.learner_seat(1) is None
    assert all(a.policy is arena.learner for a in arena.agents(3))


def test_concurrent_random_vs_random_is_zero_sum():
    arena = GameArena("k", "kuhn_poker", ROLES, RandomPolicy(seed=1), opponent=RandomPolicy(seed=2), game_options={"hands": 3})

    async def many():
        return await asyncio.gather(*[arena.play(seed) for seed in range(200)])

    episodes = run(many())
    assert len(episodes) == 200
    assert [e.seed for e in episodes] == list(range(200))
    payoffs = set()
    for e in episodes:
        assert e.forfeit is None and e.metadata["invalid_attempts"] == 0
        assert sum(e.rewards) == 0.0
        assert all(not t.trainable for t in e.turns)  # random policies never train
        payoffs.add(e.rewards[0])
    assert len(payoffs) > 3  # games really differ


def test_engine_policy_in_arena_never_crashes(tiny_model, tokenizer):
    """An untrained model writes mostly garbage: every episode still ends with a counted outcome."""
    from sparring.agents import EnginePolicy
    from sparring.agents.hf_engine import HFEngine

    engine = HFEngine(tiny_model, tokenizer, max_batch_size=64)
    arena = GameArena("k", "kuhn_poker", ROLES, EnginePolicy(engine), opponent=RandomPolicy(seed=0),
                      invalid=InvalidActionRule(penalty=-2.0, retries=1))

    async def many():
        try:
            return await asyncio.gather(*[arena.play(seed) for seed in range(16)])
        finally:
            await engine.aclose()

    episodes = run(many())
    for e in episodes:
        seat = e.learner_seats[0]
        learner_turns = [t for t in e.turns if t.player == seat]
        assert learner_turns and all(t.trainable and t.prompt_ids and t.completion_ids for t in learner_turns)
        assert all(len(t.logprobs) == len(t.completion_ids) for t in learner_turns)
        if e.forfeit is not None:
            assert e.rewards[e.forfeit] == -2.0
        else:
            assert sum(e.rewards) == 0.0
        assert e.metadata["invalid_attempts"] == sum(t.invalid for t in e.turns)
        assert json.loads(json.dumps(e.to_json()))["turns"][0]["prompt_ids"] == e.turns[0].prompt_ids
    assert engine.stats.sequences == sum(1 for e in episodes for t in e.turns if t.player == e.learner_seats[0])
    assert engine.stats.batches < engine.stats.sequences  # requests were batched


def test_random_opening_starts_episodes_from_seeded_random_positions():
    ttt_roles = seat_roles("tictactoe", 2, SamplingParams(4))
    arena = GameArena("t", "tictactoe", ttt_roles, RandomPolicy(seed=1), random_opening=4)

    async def many(a):
        return await asyncio.gather(*[a.play(seed) for seed in range(100)])

    episodes = run(many(arena))
    openings = [e.metadata["opening_moves"] for e in episodes]
    assert set(openings) == {0, 1, 2, 3, 4}  # uniform in [0, N], the plain start included
    for e, k in zip(episodes, openings):
        assert e.metadata["game_turns"] == k + len(e.turns)  # opening moves are not turns
        assert e.turns[0].player == k % 2  # X moves first, so the player to move follows the opening
        assert sum(e.rewards) == 0.0
    again = run(many(GameArena("t", "tictactoe", ttt_roles, RandomPolicy(seed=1), random_opening=4)))
    assert [e.metadata["opening_moves"] for e in again] == openings  # seeded by the episode
    plain = run(many(GameArena("t", "tictactoe", ttt_roles, RandomPolicy(seed=1))))
    assert all(e.metadata["opening_moves"] == 0 and e.turns[0].player == 0 for e in plain)


def test_random_opening_that_ends_the_game_yields_an_episode_without_turns():
    arena = GameArena("k", "kuhn_poker", ROLES, RandomPolicy(seed=1), game_options={"hands": 1}, random_opening=50)
    episodes = [run(arena.play(seed)) for seed in range(40)]
    assert any(not e.turns for e in episodes)  # the random moves finished some games
    assert all(sum(e.rewards) == 0.0 for e in episodes)
    with pytest.raises(ValueError, match="random_opening"):
        GameArena("k", "kuhn_poker", ROLES, RandomPolicy(), random_opening=-1)


# ----- the SPIRAL preset --------------------------------------------------------------------------
def test_spiral_preset_is_minus_one_and_a_half_and_plus_one_half_without_retries():
    from sparring.arenas.game_arena import GameArenaConfig

    cfg = GameArenaConfig(name="k", game="kuhn_poker", invalid_action={"preset": "spiral"})
    rule = InvalidActionRule.from_config(cfg.invalid_action)
    assert rule == InvalidActionRule(penalty=-1.5, opponent_reward=0.5, retries=0, retry_penalty=-1.5)
    arena = GameArena("k", "kuhn_poker", ROLES, ScriptedPolicy(per_seat(legal_first, "[fold]"), trainable=True),
                      invalid=rule)
    ep = run(arena.play(seed=5))
    assert ep.forfeit == 1 and ep.rewards == [0.5, -1.5] and len(ep.turns) == 2  # no retry


@pytest.mark.parametrize("explicit", [{"penalty": -1.0}, {"opponent_reward": 0.0}, {"retries": 2},
                                      {"retry_penalty": -3.0}])
def test_spiral_preset_with_other_explicit_values_is_an_error(explicit):
    from sparring.config import ConfigError, load_config

    key = next(iter(explicit))
    arena = {"name": "k", "game": "kuhn_poker", "invalid_action": {"preset": "spiral", **explicit}}
    with pytest.raises(ConfigError, match=rf"arenas\.0\.invalid_action: .*preset 'spiral'.*cannot be combined with "
                                          rf"explicit {key}="):
        load_config(data={"arenas": [arena]})


def test_spiral_preset_accepts_its_own_values_and_round_trips():
    from sparring.config import load_config

    same = {"name": "k", "game": "kuhn_poker", "invalid_action": {"preset": "spiral", "penalty": -1.5, "retries": 0}}
    cfg = load_config(data={"arenas": [same]})
    assert load_config(data=cfg.model_dump(mode="json")) == cfg
    assert cfg.arenas[0].invalid_action.opponent_reward == 0.5
    with pytest.raises(Exception, match="preset"):
        load_config(data={"arenas": [{"name": "k", "game": "kuhn_poker", "invalid_action": {"preset": "dapo"}}]})
