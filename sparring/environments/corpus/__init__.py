"""Documents to ground self-play on (SPICE): a corpus the challenger reads to pose its tasks.

- `Document`: one text with a stable id and the source it came from;
- chunking.py: long texts cut into prompt-sized pieces at paragraph, sentence or word boundaries;
- stdlib.py: an offline default corpus, the docstrings of the installed Python standard library;
- sources.py: `CorpusSource` (stdlib, a local file or folder, or any `datasets` id) and its loaders,
  in memory or streamed;
- sampler.py: `DocumentSampler`, seeded draws in epochs (or passes over a stream) with reuse
  counts and a small resumable state.

What it does not do: pose or check tasks (arenas do), tokenize (limits are in characters),
deduplicate across sources, or download anything unless a `datasets` id asks for it.
"""
# ruff: noqa: E402  (the submodules import Document, so they are imported after it)

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    id: str  # stable: "<source>#<row>", or "<source>#<row>.<chunk>" when the row was cut into pieces
    text: str
    source: str  # a file path, a `datasets` id, or "stdlib:<dotted.name>"


from sparring.environments.corpus.chunking import chunk_text
from sparring.environments.corpus.sampler import DocumentSampler
from sparring.environments.corpus.sources import CorpusSource, iter_documents, load_documents
from sparring.environments.corpus.stdlib import stdlib_documents

__all__ = ["CorpusSource", "Document", "DocumentSampler", "chunk_text", "iter_documents", "load_documents",
           "stdlib_documents"]
