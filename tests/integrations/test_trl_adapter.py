"""The TRL adapter: GameTask's dataset and reward function, by hand and inside a real GRPOTrainer."""

from __future__ import annotations

import json
import random

import pytest

from sparring.agents.roles import Role
from sparring.integrations.trl import GameTask, completion_text

# X at 0 and 1, O at 3 and 4, X to move: [2] completes the top row.
X_WINS = ["0", "3", "1", "4"]


def rewards(task: GameTask, completions, history=X_WINS, seed=0, **extra):
    n = len(completions)
    return task.reward([None] * n, completions, seed=[seed] * n, history=[json.dumps(history)] * n, **extra)


def test_hand_written_completions():
    task = GameTask("tictactoe", invalid_penalty=-2.5)
    got = rewards(task, ["[2]", "I take [2] now", "[3]", "[9]", "hello world", "", "[ 2 ]"])
    assert got == [1.0, 1.0, -2.5, -2.5, -2.5, -2.5, 1.0]  # win, win, taken cell, no cell, garbage x2, spaces ok
    blocked = rewards(task, ["[5]"])[0]  # legal, game goes on: mean of random play-outs, a return in [-1, 1]
    assert -1.0 <= blocked <= 1.0 and blocked != -2.5
    assert rewards(task, ["[5]"]) == [blocked]  # the same answer at the same position scores the same


def test_chat_messages_and_untrusted_completions_never_raise():
    task = GameTask("tictactoe")
    assert rewards(task, [[{"role": "assistant", "content": "[2]"}]]) == [1.0]
    weird = [None, 42, [], [{}], [{"role": "assistant"}], {"content": "[2]"},
             [{"content": [{"type": "text", "text": "[2]"}]}], "[" * 5000, "\x00\uffff[2", "<think>[2]"]
    assert rewards(task, weird) == [-1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0]
    rng = random.Random(0)
    noise = ["".join(chr(rng.randrange(0, 0x2FF)) for _ in range(rng.randrange(0, 60))) for _ in range(200)]
    assert all(-1.0 <= r <= 1.0 for r in rewards(task, noise))


def test_think_format_reads_the_final_answer_not_a_decoy_in_the_reasoning():
    task = GameTask("tictactoe", prompt={"answer_format": "think"})
    assert task.role.answer_format == "think"
    decoy = "<think>[3] is taken, maybe \\boxed{9}? No: [2] wins.</think>\n\\boxed{2}"
    only_reasoning = "<think>\\boxed{2}</think> [3]"
    unfinished = "<think>\\boxed{2}"
    assert rewards(task, [decoy, only_reasoning, unfinished]) == [1.0, -1.0, -1.0]


def test_cut_off_completions_get_the_penalty_when_stop_tokens_are_known(tokenizer):
    task = GameTask("tictactoe", tokenizer=tokenizer)
    eos = tokenizer.eos_token_id
    got = rewards(task, ["[2]", "[2]", "[2]"], completion_ids=[[7, eos], [7, 8], []])
    assert got == [1.0, -1.0, -1.0]
    assert rewards(GameTask("tictactoe"), ["[2]"], completion_ids=[[7, 8]]) == [1.0]  # no tokenizer: not checked


def test_dataset_rows_rebuild_their_positions(tokenizer):
    task = GameTask("kuhn_poker", game_options={"hands": 2}, tokenizer=tokenizer, max_opening=3)
    ds = task.dataset(12, seed=3)
    assert ds.column_names == ["prompt", "game", "game_options", "seed", "history", "player"]
    assert task.dataset(12, seed=3).to_list() == ds.to_list()  # reproducible
    assert len({r["history"] for r in ds}) > 1  # random openings of several lengths
    for row in ds:
        state = task.position(row["seed"], json.loads(row["history"]))
        assert not state.done and state.current_player == row["player"]
        assert row["prompt"] == task.role.messages(state.observation(row["player"]))
        assert row["prompt"][-1]["role"] == "user"


def test_plain_style_prompts_are_text(tokenizer):
    task = GameTask("tictactoe", prompt={"style": "plain"}, tokenizer=tokenizer)
    row = task.dataset(2)[0]
    assert isinstance(row["prompt"], str) and "Answer with one legal action in brackets." in row["prompt"]
    assert rewards(task, ["[2]"]) == [1.0]  # plain completions are strings


def test_chance_after_the_move_is_redrawn_and_free_text_games_are_safe():
    kuhn = GameTask("kuhn_poker", game_options={"hands": 2}, playouts=16)
    bet, check, illegal = rewards(kuhn, ["[bet]", "[check]", "[call]"], history=[])
    assert illegal == -1.0 and -4.0 <= bet <= 4.0 and -4.0 <= check <= 4.0
    talk = GameTask("simple_negotiation", playouts=2, invalid_penalty=-3.0)  # free text: the rules judge it
    got = rewards(talk, ["[Deny]", "[Offer: nonsense]", "\x00"], history=[])
    assert -1.0 <= got[0] <= 1.0 and got[1:] == [-3.0, -3.0]


def test_constructor_checks():
    with pytest.raises(ValueError):
        GameTask("tictactoe", playouts=0)
    with pytest.raises(ValueError):
        GameTask("tictactoe", role=Role("x"), prompt={})
    with pytest.raises(Exception):
        GameTask("no_such_game")
    assert completion_text([{"role": "assistant", "content": "a"}]) == "a" and completion_text(3) is None


@pytest.mark.parametrize("style", ["chat", "plain"])
def test_grpo_trainer_runs_two_steps(tiny_path, tokenizer, tmp_path, style):
    from trl import GRPOConfig, GRPOTrainer

    from sparring.agents.models import load_model

    task = GameTask("tictactoe", game_options={"view": "compact"}, tokenizer=tokenizer, prompt={"style": style})
    calls = []

    def reward(prompts, completions, **columns):
        out = task.reward(prompts, completions, **columns)
        calls.append((completions, columns, out))
        return out

    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, gradient_checkpointing=False, report_to=[],
                      save_strategy="no", disable_tqdm=True, logging_steps=1, max_steps=2, seed=0,
                      per_device_train_batch_size=4, num_generations=2, max_completion_length=6,
                      learning_rate=1e-3, beta=0.0, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=load_model(tiny_path, device="cpu"), processing_class=tokenizer, reward_funcs=reward,
                          train_dataset=task.dataset(16), args=args)
    trainer.train()
    assert trainer.state.global_step == 2 and len(calls) == 2
    for completions, columns, out in calls:
        assert len(out) == len(completions) == 4
        assert {"game", "seed", "history", "player", "completion_ids"} <= set(columns)
        rows = zip(completions, columns["seed"], columns["history"], columns["completion_ids"], out)
        for c, seed, history, ids, r in rows:
            assert isinstance(c, str if style == "plain" else list)
            assert r == task.score(c, seed, json.loads(history), completion_ids=ids)
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logged) == 2 and all("sparring/invalid_rate" in h for h in logged)


def test_columns_as_lists_and_dicts_score_like_their_json(tokenizer):
    """TRL may hand columns over decoded (lists, dicts) rather than as JSON strings."""
    task = GameTask("tictactoe", invalid_penalty=-2.5)
    as_json = rewards(task, ["[2]", "[5]"])
    decoded = task.reward([None] * 2, ["[2]", "[5]"], seed=[0, 0], history=[list(X_WINS)] * 2, game_options=[{}] * 2)
    assert decoded == as_json
