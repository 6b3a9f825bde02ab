"""benchmarks/absolute_zero_learning.py --supervised: the yardstick's rows hold the right answers,
in the solver roles' prompts, and never a held-out program."""

import ast
import importlib.util
from pathlib import Path

from sparring.config import load_config
from sparring.environments.absolute_zero import grammar

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "absolute_zero_learning.py"


def load():
    spec = importlib.util.spec_from_file_location("absolute_zero_learning", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(program: str, value):
    namespace = {}
    exec(program, namespace)  # the grammar generator's own programs, not model output
    return namespace["f"](value)


def test_answer_rows_are_right_answers_from_training_programs():
    bench = load()
    cfg = load_config(ROOT / "configs" / "absolute_zero_grammar.yaml", [])
    rows = bench.answer_rows(cfg, 40, seed=0, tokenizer=None)
    assert len(rows) == 40
    seen = {"deduction": 0, "abduction": 0}
    fraction = cfg.arenas[0].grammar.heldout_fraction
    for row in rows:
        prompt, completion = row["prompt"][-1]["content"], row["completion"][0]["content"]
        program = prompt.split("```python\n")[1].split("\n```")[0]
        assert not grammar.heldout(program, fraction)
        if prompt.startswith("Predict the output"):
            seen["deduction"] += 1
            value = ast.literal_eval(prompt.split("<input>")[1].split("</input>")[0])
            answer = ast.literal_eval(completion.split("<output>")[1].split("</output>")[0])
            assert run(program, value) == answer
        else:
            seen["abduction"] += 1
            output = ast.literal_eval(prompt.split("<output>")[1].split("</output>")[0])
            answer = ast.literal_eval(completion.split("<input>")[1].split("</input>")[0])
            assert run(program, answer) == output
    assert seen == {"deduction": 20, "abduction": 20}
