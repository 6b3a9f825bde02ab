"""Config validation (unknown keys and bad values named by dotted path), overrides, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from sparring import config as C
from sparring.config import ConfigError, ExperimentConfig, apply_override, load_config

REPO = Path(__file__).resolve().parents[1]
ARENA = {"name": "kuhn", "game": "kuhn_poker"}


def minimal(**extra) -> dict:
    data = {"arenas": [dict(ARENA)]}
    data.update(extra)
    return data


def error_of(**kw) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(**kw)
    return str(info.value)


def test_minimal_config_defaults():
    cfg = load_config(data=minimal())
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.arenas[0].episodes_per_step == 64 and cfg.arenas[0].opponent.kind == "self"
    assert cfg.advantages.estimator == "rae" and cfg.loss.aggregation == "token_mean"


def test_unknown_key_in_a_list_item_names_the_dotted_path():
    msg = error_of(data={"arenas": [dict(ARENA, bogus=1)]})
    assert "arenas.0.bogus" in msg and "unknown key" in msg


def test_unknown_nested_and_top_level_keys_are_all_named():
    msg = error_of(data=minimal(model={"tiny": {"widht": 3}}, optimizer={"lr": 1}))
    assert "model.tiny.widht" in msg
    assert "optimizer" in msg
    assert msg.count("unknown key") == 2


def test_ill_typed_values_are_named():
    msg = error_of(data=minimal(run={"steps": "many"}, loss={"aggregation": "median"}))
    assert "run.steps" in msg and "many" in msg
    assert "loss.aggregation" in msg and "median" in msg


@pytest.mark.parametrize("data,path", [
    (minimal(run={"steps": -1}), "run.steps"),
    (minimal(sampling={"top_p": 1.5}), "sampling.top_p"),
    (minimal(advantages={"rae_alpha": 2}), "advantages.rae_alpha"),
    (minimal(advantages={"per_role": {"x": "ppo"}}), "advantages.per_role.x"),
    ({"arenas": [dict(ARENA, episodes_per_step=0)]}, "arenas.0.episodes_per_step"),
    ({"arenas": [dict(ARENA, opponent={"kind": "human"})]}, "arenas.0.opponent.kind"),
])
def test_out_of_range_values_are_named(data, path):
    assert path in error_of(data=data)


def test_arenas_are_required_and_names_unique():
    assert "arenas" in error_of(data={})
    assert "unique" in error_of(data={"arenas": [dict(ARENA), dict(ARENA)]})


def test_checkpoint_opponent_needs_a_path():
    assert "opponent.path" in error_of(data={"arenas": [dict(ARENA, opponent={"kind": "checkpoint"})]})


def test_set_overrides_with_list_indices_and_yaml_values():
    data = minimal(arenas=[dict(ARENA), {"name": "k2", "game": "kuhn_poker"}])
    cfg = load_config(data=data, overrides=[
        "arenas.1.episodes_per_step=8", "arenas.0.game_options.hands=3", "run.steps=7",
        "optim.betas=[0.5, 0.6]", "arenas.1.opponent.kind=random", "run.name=my run", "loss.kl_coef=1e-3",
    ])
    assert cfg.arenas[1].episodes_per_step == 8 and cfg.arenas[0].episodes_per_step == 64
    assert cfg.arenas[0].game_options == {"hands": 3}
    assert cfg.arenas[1].opponent.kind == "random"
    assert cfg.run.steps == 7 and cfg.run.name == "my run"
    assert cfg.optim.betas == (0.5, 0.6)
    assert cfg.loss.kl_coef == pytest.approx(1e-3)


def test_overrides_do_not_mutate_the_callers_data():
    # a sweep reuses one base dict with different overrides: they must not leak between calls
    base = minimal(run={"steps": 5})
    load_config(data=base, overrides=["arenas.0.episodes_per_step=8", "run.steps=9", "model.tiny.hidden_size=32"])
    assert base == minimal(run={"steps": 5})
    assert load_config(data=base).arenas[0].episodes_per_step == 64


def test_set_override_of_unknown_key_is_named():
    assert "arenas.0.bogus" in error_of(data=minimal(), overrides=["arenas.0.bogus=1"])
    assert "run.stpes" in error_of(data=minimal(), overrides=["run.stpes=1"])


def test_set_override_without_equals_sign():
    assert "KEY=VALUE" in error_of(data=minimal(), overrides=["run.steps"])


def test_set_override_through_a_scalar():
    assert "run.steps" in error_of(data=minimal(run={"steps": 5}), overrides=["run.steps.x=1"])


@pytest.mark.parametrize("override", ["arenas.3.name=x", "arenas.first.name=x", "arenas.-5.name=x"])
def test_set_override_with_a_bad_list_index_is_a_config_error(override):
    # a typo on the command line must give the clean 'error: ...' exit, not a traceback
    msg = error_of(data=minimal(), overrides=[override])
    assert "arenas" in msg


def test_return_discount_without_the_state_baseline_is_named():
    msg = error_of(data=minimal(), overrides=["credit.return_discount=0.8"])
    assert "return_discount" in msg and "baseline: state" in msg


@pytest.mark.parametrize("override, new", [
    ("advantages.gamma=0.5", "renamed to credit.gamma"),
    ("advantages.baseline=state", "renamed to credit.baseline"),
    ("advantages.state_decay=0.5", "renamed to credit.state_decay"),
    ("advantages.return_discount=0.8", "renamed to credit.return_discount"),
    ("advantages.td_lambda=0.5", "removed"),
    ("warm_start.rollouts=8", "renamed to warm_start.search.rollouts"),
    ("warm_start.unique=true", "renamed to warm_start.search.unique"),
    ("warm_start.play=best", "renamed to warm_start.search.play"),
    ("warm_start.games=100", "renamed to warm_start.search.games"),
    ("warm_start.keep=best", "warm_start.search"),
    ("arenas.0.branches=4", "removed"),
])
def test_renamed_and_removed_keys_name_the_new_key(override, new):
    msg = error_of(data=minimal(), overrides=[override])
    old = override.split("=")[0] if "keep" not in override else "warm_start.keep"
    assert old in msg and new in msg, msg


def test_state_baseline_refuses_std_normalising_estimators_and_role_is_renamed():
    msg = error_of(data=minimal(credit={"baseline": "state"}, advantages={"per_role": {"kuhn_poker/p1": "grpo"}}))
    assert "credit.baseline: state" in msg and "['grpo']" in msg and "dr_grpo" in msg
    assert load_config(data=minimal(credit={"baseline": "state"}, advantages={"estimator": "dr_grpo"}))
    assert "'role' is now 'sequence'" in error_of(data=minimal(credit={"baseline": "role"}))


def test_options_only_for_stateful_estimators():
    assert "is a function estimator and takes no options" in error_of(data=minimal(advantages={"options": {"grpo": {"x": 1}}}))
    assert "rae_alpha" in error_of(data=minimal(advantages={"options": {"rae": {"alpha": 0.5}}}))


def test_search_label_options_are_checked():
    msg = error_of(data=minimal(), overrides=["warm_start.search.play=best"])
    assert "play=best" in msg and "rollouts" in msg
    msg = error_of(data=minimal(warm_start={"keep": "winners", "search": {"rollouts": 4}}))
    assert "keep='winners'" in msg and "search" in msg


def test_apply_override_in_place():
    data = {"a": [{"b": 1}, {"b": 2}]}
    apply_override(data, "a.1.b=5")
    apply_override(data, "a.0.c.d=x y")
    apply_override(data, "e=")
    assert data == {"a": [{"b": 1, "c": {"d": "x y"}}, {"b": 5}], "e": ""}
    for bad in ("=5", "run..steps=5", "run.steps.=5"):  # were "unknown key" errors naming '' or 'run.'
        with pytest.raises(ConfigError, match="has an empty part"):
            apply_override(data, bad)


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    msg = error_of(path=missing)
    assert "nope.yaml" in msg and "cannot read" in msg


def test_bad_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  steps: 3\n bad: [\n")
    msg = error_of(path=bad)
    assert msg.startswith(f"{bad}:3:2: not valid YAML") and len(msg.splitlines()) == 1  # file:line:column
    bad.write_bytes(b"run:\n  name: \xff\xfe\n")
    assert "not UTF-8" in error_of(path=bad)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    # load_config has a check with exactly this message; it must be reached
    path = tmp_path / "notmap.yaml"
    path.write_text(text)
    assert "top level must be a mapping" in error_of(path=path)


def test_shipped_config_validates():
    cfg = load_config(REPO / "configs" / "kuhn_poker_tiny.yaml")
    assert cfg.arenas[0].game == "kuhn_poker"
    assert cfg.warm_start.enabled and cfg.advantages.estimator == "rae"
    from sparring.environments import names

    assert all(a.game in names() for a in cfg.arenas)


# Presets for a GPU name data files the user brings (their header says which --set to give)
USER_DATA = {"rise_qwen3.yaml": ["arenas.0.source.path", "arenas.0.eval_source.path"],
             "spice_qwen3.yaml": ["arenas.0.corpus.path"]}


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_preset_validates(path, tmp_path):
    from sparring.environments import names

    data = tmp_path / "data.jsonl"
    data.write_text("")
    keys = USER_DATA.get(path.name, [])
    if keys:  # without the data the preset is refused, naming the key
        with pytest.raises(ConfigError, match=f"{keys[0]}: .*no such file or directory"):
            load_config(path)
    cfg = load_config(path, [f"{key}={data}" for key in keys])
    assert cfg.run.steps > 0 and cfg.arenas
    assert all(a.game in names() for a in cfg.arenas if a.kind == "game")


def _all_models(model: type[BaseModel], seen=None):
    seen = seen if seen is not None else set()
    if model in seen:
        return seen
    seen.add(model)
    def types_in(t):  # unwrap list[...], X | None, Annotated[Union[...], ...]
        yield t
        for arg in getattr(t, "__args__", ()) + tuple(getattr(t, "__metadata__", ()) and (t.__origin__,)):
            yield from types_in(arg)

    for f in model.model_fields.values():
        for t in types_in(f.annotation):
            if isinstance(t, type) and issubclass(t, BaseModel):
                _all_models(t, seen)
    return seen


def test_every_config_field_has_a_doc():
    from sparring.arenas import arena_class, arena_kinds

    models = _all_models(ExperimentConfig)
    for kind in arena_kinds():  # arena kinds' own config models, validated by kind
        _all_models(arena_class(kind).config_model, models)
    assert C.GameArenaConfig in models and C.PoolConfig in models and C.EndpointConfig in models and C.LoraConfig in models and C.TinyModelConfig in models
    undocumented = [f"{m.__name__}.{n}" for m in models for n, f in m.model_fields.items() if not f.description]
    assert not undocumented, undocumented


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config(data=minimal(run={"steps": 3}))
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert load_config(path) == cfg


# ----- the CLI --------------------------------------------------------------------------------
def test_cli_train_bad_config_exits_2_with_message(tmp_path, subprocess_env):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"arenas": [dict(ARENA, bogus=1)], "run": {"output_dir": str(tmp_path / "run")}}))
    proc = subprocess.run([sys.executable, "-m", "sparring.cli", "train", str(cfg), "--set", "run.steps=oops"],
                          capture_output=True, text=True, env=subprocess_env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "arenas.0.bogus" in proc.stderr and "run.steps" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


def test_cli_main_missing_file_and_bad_override(tmp_path, capsys):
    from sparring.cli import main

    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml" in err and err.startswith("error:")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"arenas": [ARENA], "run": {"output_dir": str(tmp_path / "run")}}))
    assert main(["train", str(good), "--set", "arenas.0.bogus=1"]) == 2
    assert "arenas.0.bogus" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, says", [
    (["eval", "--model", "tiny", "--game", "tictactoo"], "--game tictactoo: unknown game"),
    (["eval", "--model", "tiny", "--game", "tictactoe", "--game-option", "view=bogus"], "view must be one of"),
    (["eval", "--model", "tiny", "--game", "tictactoe", "--game-option", "view=["], "not valid YAML"),
    (["eval", "--model", "tiny", "--game", "tictactoe", "--json", "/nonexistent/x.json"], "not a file in an existing"),
    (["eval", "--benchmark", "code_reasoning", "--model", "/nonexistent"], "no such directory"),
    (["eval", "--benchmark", "code_reasoning", "--model", "tiny", "--engine", "vlm"], "unknown engine backend 'vlm'"),
])
def test_eval_mistakes_are_one_line_errors_before_any_work(argv, says, capsys):
    """Each was a traceback, or (--json) one after the whole evaluation had run."""
    from sparring.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and says in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv, says", [
    (["--game", "tictactoe", "--model", "tiny", "--scripted", "random"], "--scripted applies to --exploitability"),
    (["--game", "tictactoe", "--model", "tiny", "--anchor", "minimax"], "--anchor applies to an Elo ranking"),
    (["--game", "tictactoe", "--model", "tiny", "--samples", "9"], "--samples applies to a benchmark"),
    (["--benchmark", "math", "--model", "tiny", "--game", "tictactoe"], "--game applies to games, Elo and"),
    (["--exploitability", "--game", "kuhn_poker", "--model", "tiny", "--opponent", "minimax"],
     "--opponent applies to games against opponents, not to --exploitability"),
    (["--elo", "a", "b", "--game", "tictactoe", "--opponent", "minimax"], "not to an Elo ranking"),
])
def test_an_option_of_another_eval_mode_is_an_error(argv, says, capsys):
    """Each was ignored without a word."""
    from sparring.cli import main

    assert main(["eval", *argv]) == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["eval", "--model", "tiny", "--game", "tictactoe", "--episodes", "0"],
                                  ["eval", "--model", "tiny", "--game", "tictactoe", "--temperature", "-1"],
                                  ["play", "tictactoe", "--temperature", "-3"], ["report", "x", "--watch", "-1"]])
def test_out_of_range_numbers_on_the_command_line_are_refused(argv, capsys):
    from sparring.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "must be" in capsys.readouterr().err


def test_cli_requires_a_command():
    from sparring.cli import main

    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_retry_penalty_defaults_to_the_forfeit_penalty_unless_set():
    arena = dict(ARENA, invalid_action={"penalty": -2.0, "retries": 2})
    assert load_config(data={"arenas": [arena]}).arenas[0].invalid_action.retry_penalty == -2.0
    arena["invalid_action"]["retry_penalty"] = -0.5
    assert load_config(data={"arenas": [arena]}).arenas[0].invalid_action.retry_penalty == -0.5
