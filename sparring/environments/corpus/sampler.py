"""Seeded, resumable draws of documents, each with how many times it had been drawn before.

In memory, draws go through epochs: each epoch is a seeded permutation of all documents, so every
document is used once before any is reused, and a draw's reuse count is its epoch. Streaming
(`source.streaming`), documents are read in blocks of whole source rows holding at least
`shuffle_buffer` documents, each block shuffled with a seed drawn from (seed, pass, first row);
when the stream ends a new pass starts, and the reuse count is the pass number.

Why blocks rather than a sliding shuffle buffer: a block is rebuilt exactly from the row it starts
at, so the state to resume from is a few integers (seed, pass, first row of the block, draws taken
from it) and never the buffered documents; resuming re-reads the stream from that row.

What it does not do: weight, filter or deduplicate documents; remember which task came from which
document (the arena does that with `Document.id`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

from sparring.environments.corpus import Document
from sparring.environments.corpus.sources import CorpusSource, iter_documents, load_documents

logger = logging.getLogger(__name__)


class DocumentSampler:
    """Documents of `source` in a seeded order; the same (source, seed, state) gives the same draws."""

    def __init__(self, source: CorpusSource, seed: int) -> None:
        self.source = source
        self.seed = seed
        self._epoch = 0  # in memory: the epoch; streaming: the pass over the stream
        self._position = 0  # documents drawn from the current permutation (memory) or block (streaming)
        self._draws = 0
        self._reuse_sum = 0
        self._seen = 0  # distinct documents drawn so far
        if source.streaming:
            self._docs: list[Document] | None = None
            self._block: list[Document] = []
            self._block_start: int | None = None  # the source row the current block starts at
            self._stream: Iterator[tuple[int, Document]] | None = None  # positioned after the block
            self._pending: tuple[int, Document] | None = None  # read ahead: the next block's first document
        else:
            self._docs = load_documents(source)
            self._order = self._permutation(0)

    def __len__(self) -> int:
        """The number of documents; a streaming corpus has no length (TypeError) until read through."""
        if self._docs is None:
            raise TypeError(f"streaming corpus {self.source.where} has no length")
        return len(self._docs)

    def __bool__(self) -> bool:  # never falls back to __len__, which raises when streaming
        return True

    def sample(self, n: int) -> list[tuple[Document, int]]:
        """The next `n` documents, each with how many times it had been drawn before (0: fresh)."""
        if n < 0:
            raise ValueError(f"cannot sample {n} documents")
        out = []
        for _ in range(n):
            doc = self._next_in_memory() if self._docs is not None else self._next_streamed()
            reuse = self._epoch
            self._draws += 1
            self._reuse_sum += reuse
            self._seen += reuse == 0
            out.append((doc, reuse))
        return out

    def stats(self) -> dict[str, float]:
        """documents_seen (distinct), draws, mean_reuse (mean reuse count of the draws), epoch."""
        out = {"documents_seen": self._seen, "draws": self._draws,
               "mean_reuse": self._reuse_sum / self._draws if self._draws else 0.0, "epoch": self._epoch}
        if self._docs is not None:
            out["documents"] = len(self._docs)
        return out

    def state_dict(self) -> dict:
        """A small JSON-serialisable state: counters and positions, never documents."""
        state = {"seed": self.seed, "streaming": self._docs is None, "epoch": self._epoch,
                 "position": self._position, "draws": self._draws, "reuse_sum": self._reuse_sum,
                 "documents_seen": self._seen}
        if self._docs is None:
            state["block_start"] = self._block_start
        else:
            state["documents"] = len(self._docs)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue where the sampler that saved `state` stopped (its seed replaces this one's)."""
        if state["streaming"] != (self._docs is None):
            raise ValueError(f"state is for a {'streaming' if state['streaming'] else 'in-memory'} sampler; "
                             f"source {self.source.where} has streaming={self.source.streaming}")
        if self._docs is not None and state["documents"] != len(self._docs):
            raise ValueError(f"state is for a corpus of {state['documents']} documents; "
                             f"{self.source.where} now has {len(self._docs)}")
        self.seed, self._epoch = state["seed"], state["epoch"]
        self._draws, self._reuse_sum, self._seen = state["draws"], state["reuse_sum"], state["documents_seen"]
        if self._docs is not None:
            self._order = self._permutation(self._epoch)
            self._position = state["position"]
            return
        self._block, self._block_start, self._position, self._pending = [], None, 0, None
        self._stream = None
        if state["block_start"] is not None:
            self._stream = iter_documents(self.source, skip_rows=state["block_start"])
            self._read_block()
            if self._block_start != state["block_start"] or state["position"] > len(self._block):
                raise ValueError(f"{self.source.where} changed since the state was saved: "
                                 f"the block at row {state['block_start']} is gone")
            self._position = state["position"]

    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self._docs)))
        random.Random(f"{self.seed}/{epoch}").shuffle(order)
        return order

    def _next_in_memory(self) -> Document:
        if self._position == len(self._docs):
            self._epoch += 1
            self._position = 0
            self._order = self._permutation(self._epoch)
            logger.info("corpus %s: epoch %d", self.source.where, self._epoch)
        self._position += 1
        return self._docs[self._order[self._position - 1]]

    def _next_streamed(self) -> Document:
        if self._stream is None:
            self._stream = iter_documents(self.source)
            self._read_block()
        while self._position == len(self._block):
            self._read_block()
            if not self._block:  # the stream has ended: a new pass (iter_documents raises if it is empty)
                self._epoch += 1
                self._stream = iter_documents(self.source)
                logger.info("corpus %s: pass %d", self.source.where, self._epoch)
                self._read_block()
        self._position += 1
        return self._block[self._position - 1]

    def _read_block(self) -> None:
        """The next block of whole rows with at least `shuffle_buffer` documents, shuffled."""
        block: list[Document] = []
        start = last_row = None
        while True:
            item = self._pending if self._pending is not None else next(self._stream, None)
            self._pending = None
            if item is None:
                break
            row, doc = item
            if len(block) >= self.source.shuffle_buffer and row != last_row:
                self._pending = item
                break
            start = row if start is None else start
            block.append(doc)
            last_row = row
        random.Random(f"{self.seed}/{self._epoch}/{start}").shuffle(block)
        self._block, self._block_start, self._position = block, start, 0
