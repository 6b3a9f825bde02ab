"""The corpus presets train end to end on the tiny model (scaled down), from config alone: the
stdlib corpus (SPICE), no corpus with majority labels (R-Zero), and user corpora from JSONL and
Parquet files; a run resumes from its checkpoint with the corpus sampler where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.config import load_config

REPO = Path(__file__).resolve().parents[2]
TEXTS = [f"Document {i}. The module number {i} exports {i * 3} functions; the first of them is called f{i}. "
         f"It returns {i + 1} when called without arguments and raises ValueError otherwise." for i in range(6)]
SMALL = ["run.steps=2", "arenas.0.episodes_per_step=2", "arenas.0.challenger.per_document=2",
         "arenas.0.challenger.max_new_tokens=24", "arenas.0.reasoner.max_new_tokens=8", "warm_start.examples=16",
         "warm_start.epochs=1", "checkpoint.every=1", "eval.every=0"]


def train(cfg):
    from sparring.training.trainer import Trainer

    trainer = Trainer(cfg, show_progress=False)
    try:
        return trainer.train()
    finally:
        trainer.close()


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("preset, arena", [("spice_tiny.yaml", "spice"), ("rzero_tiny.yaml", "rzero")])
def test_corpus_preset_trains_two_steps(preset, arena, tiny_path, tmp_path):
    run = tmp_path / "run"
    cfg = load_config(REPO / "configs" / preset, [f"model.name={tiny_path}", f"run.output_dir={run}", *SMALL])
    train(cfg)
    seen = set().union(*records(run))
    keys = [f"reward/{arena}/challenger", f"corpus/{arena}/valid_rate", f"corpus/{arena}/challenger_reward_mean",
            f"corpus/{arena}/invalid/unparseable"]
    assert set(keys) <= seen, sorted(set(keys) - seen)
    if preset == "spice_tiny.yaml":
        assert f"corpus/{arena}/document_reuse_mean" in seen
        samples = [json.loads(line) for line in (run / "corpus_samples.jsonl").read_text().splitlines()]
        assert samples and samples[0]["document"].startswith(samples[0]["document_id"].split(":")[1].split("#")[0])


def _write(tmp_path: Path, kind: str) -> Path:
    if kind == "jsonl":
        path = tmp_path / "corpus.jsonl"
        path.write_text("".join(json.dumps({"body": t}) + "\n" for t in TEXTS))
    else:
        import datasets

        path = tmp_path / "corpus.parquet"
        datasets.Dataset.from_list([{"body": t} for t in TEXTS]).to_parquet(str(path))
    return path


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_a_user_corpus_trains_and_resumes(kind, tiny_path, tmp_path):
    corpus, run = _write(tmp_path, kind), tmp_path / "run"
    over = [f"model.name={tiny_path}", f"run.output_dir={run}", *SMALL, f"arenas.0.corpus.path={corpus}",
            "arenas.0.corpus.stdlib=false", "arenas.0.corpus.text_field=body", "arenas.0.corpus.min_chars=50"]
    math = tmp_path / "math.jsonl"  # a reasoning benchmark at each evaluation
    math.write_text('{"problem": "What is 1 + 1?", "answer": "2"}\n{"problem": "Half of 1?", "answer": "\\\\frac{1}{2}"}\n')
    over += [f"arenas.0.benchmarks=[{{kind: math, path: {math}}}]", "eval.every=2", "eval.at_start=true"]
    train(load_config(REPO / "configs" / "spice_tiny.yaml", over))
    first = [r for r in records(run) if "corpus/spice/valid_rate" in r]
    assert [r["step"] for r in first] == [1, 2]
    evals = [r for r in records(run) if "eval/spice/math/pass@1" in r]
    assert [r["step"] for r in evals] == [0, 2] and all(0 <= r["eval/spice/math/pass@1"] <= 1 for r in evals)
    state = json.loads((run / "corpus_samples.jsonl").read_text().splitlines()[0])
    assert str(corpus) in state["document_id"]
    # resume: two more steps from the step-2 checkpoint; the sampler continues (6 documents, 2 per
    # step: the third step draws the last fresh ones, the fourth starts the second epoch)
    train(load_config(REPO / "configs" / "spice_tiny.yaml", [*over, "run.steps=4"]))
    steps = [r for r in records(run) if "corpus/spice/valid_rate" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert [r["corpus/spice/documents_fresh_share"] for r in steps] == [1.0, 1.0, 1.0, 0.0]


def test_corpus_errors_name_the_file_and_the_field(tiny_path, tmp_path):
    corpus = _write(tmp_path, "jsonl")
    over = [f"model.name={tiny_path}", f"run.output_dir={tmp_path / 'run'}", *SMALL, f"arenas.0.corpus.path={corpus}",
            "arenas.0.corpus.stdlib=false", "arenas.0.corpus.text_field=text"]
    with pytest.raises(ValueError, match=rf"{corpus}.*'text'|'text'.*{corpus}"):
        train(load_config(REPO / "configs" / "spice_tiny.yaml", over))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    over[over.index(f"arenas.0.corpus.path={corpus}")] = f"arenas.0.corpus.path={empty}"
    with pytest.raises(ValueError, match=str(empty)):
        train(load_config(REPO / "configs" / "spice_tiny.yaml", over))
