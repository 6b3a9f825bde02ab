"""Prompt styles, per-role prompt settings, and the arena's `prompt:` config."""

from __future__ import annotations

import asyncio
import copy

import pytest

from sparring.agents.answer_formats import answer_instruction
from sparring.agents.policies import EnginePolicy, ScriptedPolicy
from sparring.agents.prompting import PromptConfig, build_role, resolve_style, seat_roles_for
from sparring.agents.roles import Role, chat_prompt_ids, seat_roles
from sparring.arenas import GameArena
from sparring.arenas.game_arena import GameArenaConfig
from sparring.config import ConfigError, load_config
from sparring.environments import make
from sparring.types import Generation, SamplingParams

S = SamplingParams(max_new_tokens=4)


class FakeEngine:
    """Records prompts; answers with a fixed text and finish reason."""

    def __init__(self, tokenizer, text: str = "[check]", finish: str = "stop") -> None:
        self.tokenizer, self.text, self.finish = tokenizer, text, finish
        self.prompts: list[list[int]] = []

    async def generate(self, prompt_ids, sampling):
        self.prompts.append(list(prompt_ids))
        return Generation(list(prompt_ids), [5, 6], [-0.1, -0.2], self.text, self.finish)


@pytest.fixture(scope="module")
def bare_tokenizer(tokenizer):
    """The tiny tokenizer without its chat template (a base model's)."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    return tok


def kuhn_observation(seed: int = 0) -> str:
    game = make("kuhn_poker")
    game.reset(seed=seed)
    return game.observation(0)


# ----- the defaults reproduce the original prompts ------------------------------------------------
def test_default_config_builds_the_original_roles(tokenizer):
    for shared in (False, True):
        built = seat_roles_for(PromptConfig(), "kuhn_poker", 2, S, shared, tokenizer)
        assert built == seat_roles("kuhn_poker", 2, S, shared)
    role = built[0]
    obs = kuhn_observation()
    assert role.user_template == "{observation}\nAnswer with one legal action in brackets."
    assert role.prompt_ids(tokenizer, obs) == chat_prompt_ids(tokenizer, [
        {"role": "user", "content": f"{obs}\nAnswer with one legal action in brackets."}])


def test_engine_policy_prompts_through_the_role_and_caches(tokenizer):
    engine = FakeEngine(tokenizer)
    policy = EnginePolicy(engine)
    plain = Role("kuhn_poker/p0", prompt_style="plain", system_prompt="Play Kuhn Poker.")
    obs = kuhn_observation()
    turn = asyncio.run(policy.act(plain, 0, obs, ["check", "bet"]))
    assert turn.action == "check"
    assert engine.prompts[0] == tokenizer(plain.prompt_text(obs), add_special_tokens=True)["input_ids"]
    assert policy.prompt_ids(plain, obs) is policy.prompt_ids(plain, obs)  # cached
    chat = Role("kuhn_poker/p1")
    assert policy.prompt_ids(chat, obs) == chat_prompt_ids(tokenizer, chat.messages(obs))


# ----- the plain style -------------------------------------------------------------------------------
def test_plain_prompt_ids_are_the_tokenized_text(tokenizer):
    prompt = PromptConfig(style="plain", system="You play cards.", text="Rules follow.\n{system}{user}\nMove:")
    role = build_role(prompt, "kuhn_poker/p0", S, tokenizer)
    obs = kuhn_observation(3)
    text = role.prompt_text(obs)
    assert text == f"Rules follow.\nYou play cards.\n\n{obs}\nAnswer with one legal action in brackets.\nMove:"
    assert role.prompt_ids(tokenizer, obs) == tokenizer(text, add_special_tokens=True)["input_ids"]
    assert role.prompt_ids(tokenizer, obs) != chat_prompt_ids(tokenizer, role.messages(obs))
    no_system = build_role(PromptConfig(style="plain"), "kuhn_poker/p0", S, tokenizer)
    assert no_system.prompt_text("OBS") == "OBS\nAnswer with one legal action in brackets.\n"


def test_templates_fill_only_their_slots():
    role = Role("r", user_template="{observation} -> \\boxed{} {other}", system_prompt="S {user}",
                prompt_style="plain", text_template="{system}[{user}]")
    assert role.user_text("x{y}") == "x{y} -> \\boxed{} {other}"
    assert role.prompt_text("o") == "S {user}\n\n[o -> \\boxed{} {other}]"  # the system text is not re-filled


def test_auto_style_follows_the_tokenizer(tokenizer, bare_tokenizer):
    assert resolve_style("auto", tokenizer) == "chat"
    assert resolve_style("auto", bare_tokenizer) == "plain"
    assert resolve_style("plain", tokenizer) == "plain"
    with pytest.raises(ValueError, match="prompt.style"):
        resolve_style("chat", bare_tokenizer)
    role = build_role(PromptConfig(), "kuhn_poker/p0", S, bare_tokenizer)
    assert role.prompt_style == "plain"
    with pytest.raises(ValueError, match="prompt.style"):
        Role("r").prompt_ids(bare_tokenizer, "obs")  # a chat role on a base model's tokenizer


def test_chat_style_without_a_template_is_a_config_error(bare_tokenizer):
    cfg = GameArenaConfig(name="k", game="kuhn_poker", prompt={"style": "chat"})
    with pytest.raises(ValueError, match="prompt.style: chat"):
        cfg.roles(S, bare_tokenizer)


def test_load_tokenizer_accepts_a_base_model(tmp_path, bare_tokenizer):
    from sparring.agents.models import load_tokenizer

    bare_tokenizer.save_pretrained(tmp_path)
    loaded = load_tokenizer(str(tmp_path))
    assert loaded.chat_template is None and loaded.pad_token_id is not None


def test_a_prompt_ending_in_think_starts_inside_the_reasoning(tokenizer):
    role = build_role(PromptConfig(style="plain", answer_format="think", text="{user}\nAssistant: <think>"),
                      "kuhn_poker/p0", S, tokenizer)
    assert role.starts_in_reasoning
    assert role.parse("I might [bet] \\boxed{bet}", ["check", "bet"]) is None  # never left the reasoning
    assert role.parse("I might [bet]\n</think>\n\\boxed{check}", ["check", "bet"]) == "check"
    assert role.parse(role.format_action("bet"), ["check", "bet"]) == "bet"
    assert not role.format_action("bet").startswith("<think>")


def test_a_chat_template_that_opens_reasoning(tokenizer):
    from sparring.agents.models import CHATML_TEMPLATE

    thinking = copy.deepcopy(tokenizer)
    thinking.chat_template = CHATML_TEMPLATE.replace("'<|im_start|>assistant\n'", "'<|im_start|>assistant\n<think>\n'")
    assert "<think>" in thinking.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                                     add_generation_prompt=True)
    role = build_role(PromptConfig(answer_format="bracket"), "kuhn_poker/p0", S, thinking)
    assert role.prompt_style == "chat" and role.starts_in_reasoning
    assert role.parse("[bet] hmm", ["check", "bet"]) is None
    assert role.parse("[bet] hmm </think> [check]", ["check", "bet"]) == "check"
    assert not build_role(PromptConfig(), "kuhn_poker/p0", S, tokenizer).starts_in_reasoning


# ----- per-role settings ---------------------------------------------------------------------------
def test_a_role_override_reaches_only_that_role(tokenizer):
    prompt = PromptConfig(system="Play well.", roles={"kuhn_poker/p1": {"system": "You bluff.", "answer_format": "boxed"}})
    p0, p1 = seat_roles_for(prompt, "kuhn_poker", 2, S, tokenizer=tokenizer)
    assert (p0.system_prompt, p0.answer_format) == ("Play well.", "bracket")
    assert p0.user_template == "{observation}\nAnswer with one legal action in brackets."
    assert (p1.system_prompt, p1.answer_format) == ("You bluff.", "boxed")
    assert p1.user_template == "{observation}\n" + answer_instruction("boxed")
    assert p1.parse("[bet] ... \\boxed{check}", ["check", "bet"]) == "check"
    assert p0.parse("[bet] ... \\boxed{check}", ["check", "bet"]) == "bet"
    silent = seat_roles_for(PromptConfig(system="Play well.", roles={"kuhn_poker/p0": {"system": ""}}),
                            "kuhn_poker", 2, S, tokenizer=tokenizer)
    assert silent[0].messages("o") == [{"role": "user", "content": "o\nAnswer with one legal action in brackets."}]
    assert silent[1].messages("o")[0] == {"role": "system", "content": "Play well."}


def test_arena_level_user_template_and_format(tokenizer):
    prompt = PromptConfig(answer_format="answer_tag", user="State:\n{observation}\nReply in <answer></answer>.")
    role = seat_roles_for(prompt, "kuhn_poker", 2, S, tokenizer=tokenizer)[0]
    assert role.user_text("X") == "State:\nX\nReply in <answer></answer>."
    assert role.parse("<answer>Bet</answer>", ["check", "bet"]) == "bet"


def test_game_arena_plays_with_the_configured_roles(tokenizer):
    cfg = GameArenaConfig(name="k", game="kuhn_poker", prompt={"answer_format": "think"})
    roles = cfg.roles(S, tokenizer)
    answer = ScriptedPolicy(lambda obs, legal: "<think>[bet] is tempting</think>\n\\boxed{check}", trainable=True)
    arena = GameArena("k", "kuhn_poker", roles, answer, opponent=None)
    episode = asyncio.run(arena.play(0))
    assert [t.action for t in episode.turns] == ["check", "check"] and episode.forfeit is None


# ----- config errors name the key -------------------------------------------------------------------
def arena(**kw) -> dict:
    return {"kind": "game", "name": "kuhn", "game": "kuhn_poker", **kw}


@pytest.mark.parametrize("prompt, expected", [
    ({"roles": {"kuhn_poker/p2": {"system": "x"}}}, r"prompt\.roles\.kuhn_poker/p2: no such role.*kuhn_poker/p0"),
    ({"style": "fancy"}, r"arenas\.0\.prompt\.style"),
    ({"answer_format": "xml"}, r"arenas\.0\.prompt\.answer_format"),
    ({"user": "no slot"}, r"arenas\.0\.prompt: .*user must contain \{observation\}"),
    ({"text": "{system} only"}, r"arenas\.0\.prompt: .*text must contain \{user\}"),
    ({"roles": {"kuhn_poker/p0": {"answer_format": "xml"}}}, r"arenas\.0\.prompt\.roles\.kuhn_poker/p0\.answer_format"),
    ({"roles": {"kuhn_poker/p0": {"colour": "red"}}}, r"arenas\.0\.prompt\.roles\.kuhn_poker/p0\.colour: unknown key"),
])
def test_prompt_config_errors_name_the_key(prompt, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(data={"arenas": [arena(prompt=prompt)]})


def test_shared_role_overrides_use_the_shared_name():
    cfg = load_config(data={"arenas": [arena(shared_role=True, prompt={"roles": {"kuhn_poker/player": {"system": "x"}}})]})
    assert cfg.arenas[0].prompt.roles["kuhn_poker/player"].system == "x"
    with pytest.raises(ConfigError, match=r"prompt\.roles\.kuhn_poker/p0.*kuhn_poker/player"):
        load_config(data={"arenas": [arena(shared_role=True, prompt={"roles": {"kuhn_poker/p0": {"system": "x"}}})]})


def test_prompt_config_round_trips():
    cfg = load_config(data={"arenas": [arena(prompt={"style": "plain", "answer_format": "boxed", "system": "s",
                                                      "roles": {"kuhn_poker/p1": {"user": "{observation}!"}}})]})
    again = load_config(data=cfg.model_dump(mode="json"))
    assert again == cfg and again.arenas[0].prompt.style == "plain"
