"""The corpus layer: chunking rules, the stdlib corpus, file and folder sources, the sampler."""

from __future__ import annotations

import csv
import json
import random

import pytest

from sparring.environments.corpus import CorpusSource, Document, DocumentSampler, iter_documents, load_documents
from sparring.environments.corpus.chunking import chunk_text
from sparring.environments.corpus.stdlib import stdlib_documents


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"]) for _ in range(words)).capitalize() + "."


def _text(i: int, chars: int) -> str:
    """Prose of about `chars` characters, different for each `i`."""
    rng = random.Random(i)
    sentences = []
    while sum(len(s) + 1 for s in sentences) < chars:
        sentences.append(_sentence(rng, rng.randint(4, 12)))
    return f"Text {i}. " + " ".join(sentences)


# ---------------------------------------------------------------------------------------------- chunking

def test_short_text_is_one_normalised_piece():
    assert chunk_text("  one\r\n\n\n\n\ntwo  \n", 100) == ["one\n\ntwo"]
    assert chunk_text("   ", 100) == []


def test_cuts_at_paragraph_breaks_first():
    a, b = "First paragraph. It has two sentences.", "Second paragraph, one sentence only."
    assert chunk_text(f"{a}\n\n{b}", chunk_chars=60) == [a, b]


def test_a_long_paragraph_is_cut_at_sentence_ends():
    text = " ".join(f"Sentence number {i} is here." for i in range(20))
    pieces = chunk_text(text, chunk_chars=100)
    assert len(pieces) > 1 and all(len(p) <= 100 and p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text


def test_without_sentences_cuts_at_whitespace_and_a_long_word_mid_word():
    text = " ".join(f"word{i}" for i in range(100))
    pieces = chunk_text(text, chunk_chars=50)
    assert all(len(p) <= 50 for p in pieces) and " ".join(pieces).split() == text.split()
    assert chunk_text("x" * 250, chunk_chars=100) == ["x" * 100, "x" * 100, "x" * 50]


def test_short_pieces_are_dropped_or_avoided():
    assert chunk_text("x" * 250, chunk_chars=100, min_chars=60) == ["x" * 100, "x" * 100]  # the tail cannot merge
    head, body = "Title.", " ".join(f"Sentence {i} of the body." for i in range(12))
    pieces = chunk_text(f"{head}\n\n{body}", chunk_chars=120, min_chars=40)
    assert pieces[0].startswith("Title.\n\nSentence 0") and all(40 <= len(p) <= 120 for p in pieces)
    with pytest.raises(ValueError, match="min_chars"):
        chunk_text("abc", chunk_chars=10, min_chars=11)


def test_chunking_keeps_every_word_in_order():
    rng = random.Random(0)
    for trial in range(30):
        paragraphs = [" ".join(_sentence(rng, rng.randint(1, 30)) for _ in range(rng.randint(1, 8)))
                      for _ in range(rng.randint(1, 6))]
        text = "\n\n".join(paragraphs)
        limit = rng.randint(20, 400)
        pieces = chunk_text(text, limit)
        assert all(0 < len(p) <= limit for p in pieces), trial
        assert " ".join(pieces).split() == text.split(), trial
        assert chunk_text(text, limit) == pieces


# ---------------------------------------------------------------------------------------------- stdlib

@pytest.fixture(scope="module")
def stdlib_docs() -> list[Document]:
    return stdlib_documents()


def test_stdlib_corpus_is_large_headed_and_deterministic(stdlib_docs):
    assert len(stdlib_docs) >= 2000
    assert len({d.id for d in stdlib_docs}) == len(stdlib_docs)
    assert all(len(d.text) <= 1500 and d.source.startswith("stdlib:") for d in stdlib_docs)
    dumps = [d for d in stdlib_docs if d.source == "stdlib:json.dumps"]
    assert dumps and dumps[0].text.startswith("json.dumps (function")
    assert "\n\nSerialize ``obj``" in dumps[0].text
    assert not [d for d in stdlib_docs if d.source.startswith(("stdlib:test.", "stdlib:idlelib.idle_test"))]
    assert stdlib_documents() == stdlib_docs


# ---------------------------------------------------------------------------------------------- sources

ROWS = [{"id": 0, "text": _text(0, 300)}, {"id": 1, "text": "too short"}, {"id": 2, "text": _text(2, 3000)}]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _check_rows(docs, where):
    assert docs[0] == Document(f"{where}#0", ROWS[0]["text"], where)
    assert [d.id for d in docs[1:]] == [f"{where}#2.{i}" for i in range(len(docs) - 1)]
    assert len(docs) >= 3 and all(200 <= len(d.text) <= 1500 for d in docs)


def test_jsonl_parquet_and_csv_load(tmp_path):
    import datasets

    jsonl = _write_jsonl(tmp_path / "c.jsonl", ROWS)
    parquet = str(tmp_path / "c.parquet")
    datasets.Dataset.from_list(ROWS).to_parquet(parquet)
    csv_path = str(tmp_path / "c.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "text"])
        writer.writeheader()
        writer.writerows(ROWS)
    for path in (jsonl, parquet, csv_path):
        docs = load_documents(CorpusSource(path=path))
        _check_rows(docs, path)
        assert [d for _, d in iter_documents(CorpusSource(path=path, streaming=True))] == docs
    docs = load_documents(CorpusSource(path=jsonl))
    assert load_documents(CorpusSource(path=jsonl, limit=1)) == docs[:1]
    assert list(iter_documents(CorpusSource(path=jsonl), skip_rows=2)) == [(2, d) for d in docs[1:]]


def test_text_file_and_folder_load(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.md").write_text(_text(2, 400))
    (tmp_path / "one.txt").write_text(_text(1, 400))
    (tmp_path / "skipped.rst").write_text(_text(3, 400))
    docs = load_documents(CorpusSource(path=str(tmp_path)))
    assert [d.source for d in docs] == [str(tmp_path / "b" / "two.md"), str(tmp_path / "one.txt")]
    assert docs[1] == Document(f"{tmp_path / 'one.txt'}#0", _text(1, 400), str(tmp_path / "one.txt"))
    assert load_documents(CorpusSource(path=str(tmp_path / "one.txt"))) == [docs[1]]


def test_a_missing_text_field_names_the_file_the_field_and_the_columns(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", [{"body": _text(0, 300)}])
    for streaming in (False, True):
        with pytest.raises(ValueError, match=r"c\.jsonl.*'content'.*columns: \['body'\]"):
            list(iter_documents(CorpusSource(path=path, text_field="content", streaming=streaming))) if streaming \
                else load_documents(CorpusSource(path=path, text_field="content"))


def test_empty_missing_unknown_and_useless_files_are_named(tmp_path):
    for name in ("empty.jsonl", "empty.csv", "empty.txt"):
        (tmp_path / name).write_text("\n")
        with pytest.raises(ValueError, match=rf"{name}: the corpus file is empty"):
            load_documents(CorpusSource(path=str(tmp_path / name)))
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        load_documents(CorpusSource(path=str(tmp_path / "nope.jsonl")))
    (tmp_path / "c.xml").write_text("<a/>")
    with pytest.raises(ValueError, match=r"c\.xml: unknown corpus file type"):
        load_documents(CorpusSource(path=str(tmp_path / "c.xml")))
    short = _write_jsonl(tmp_path / "short.jsonl", [{"text": "tiny"}])
    with pytest.raises(ValueError, match=r"short\.jsonl: no documents.*'text'.*min_chars=200"):
        load_documents(CorpusSource(path=short))
    with pytest.raises(ValueError, match="exactly one"):
        CorpusSource(path=short, stdlib=True)
    with pytest.raises(ValueError, match="exactly one"):
        CorpusSource()


# ---------------------------------------------------------------------------------------------- sampler

def _corpus(tmp_path, rows: int = 25) -> str:
    return _write_jsonl(tmp_path / "corpus.jsonl",
                        [{"text": _text(i, 2500 if i % 5 == 0 else 300)} for i in range(rows)])


def test_sampler_epochs_reuse_counts_and_determinism(tmp_path):
    source = CorpusSource(path=_corpus(tmp_path, rows=10))
    sampler = DocumentSampler(source, seed=1)
    n = len(sampler)
    first, second = sampler.sample(n), sampler.sample(n)
    assert sorted(d.id for d, _ in first) == sorted(d.id for d in load_documents(source))
    assert {r for _, r in first} == {0} and {r for _, r in second} == {1}
    assert [d for d, _ in first] != [d for d, _ in second]  # a new permutation each epoch
    assert sampler.stats() == {"documents_seen": n, "draws": 2 * n, "mean_reuse": 0.5, "epoch": 1, "documents": n}
    assert DocumentSampler(source, seed=1).sample(2 * n) == first + second
    assert DocumentSampler(source, seed=2).sample(n) != first


@pytest.mark.parametrize("streaming", [False, True])
def test_sampler_resumes_with_the_same_next_documents(tmp_path, streaming):
    source = CorpusSource(path=_corpus(tmp_path), streaming=streaming, shuffle_buffer=4)
    total = len(load_documents(source))
    for taken in (0, 5, 12, total + 3):  # fresh, mid-block, at a block's end (here), in the second pass
        original = DocumentSampler(source, seed=7)
        original.sample(taken)
        state = json.loads(json.dumps(original.state_dict()))
        assert len(json.dumps(state)) < 300
        resumed = DocumentSampler(source, seed=0)
        resumed.load_state_dict(state)
        assert resumed.sample(total + 6) == original.sample(total + 6), taken  # across a pass or epoch end
        assert resumed.stats() == original.stats()


def test_streaming_passes_use_every_document_once_each(tmp_path):
    source = CorpusSource(path=_corpus(tmp_path), streaming=True, shuffle_buffer=4)
    docs = load_documents(CorpusSource(path=source.path))
    sampler = DocumentSampler(source, seed=3)
    first, second = sampler.sample(len(docs)), sampler.sample(len(docs))
    assert sorted(d.id for d, _ in first) == sorted(d.id for d in docs) == sorted(d.id for d, _ in second)
    assert {r for _, r in first} == {0} and {r for _, r in second} == {1}
    assert [d for d, _ in first] != docs and [d for d, _ in first] != [d for d, _ in second]
    assert sampler.stats()["documents_seen"] == len(docs) and sampler.stats()["epoch"] == 1
    with pytest.raises(TypeError):
        len(sampler)
