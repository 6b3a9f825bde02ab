"""Where a corpus comes from, and reading it into documents: all at once or as a stream.

A `CorpusSource` names exactly one of: the standard library's docstrings (offline default), a local
file (`.jsonl`/`.json`, `.parquet`, `.csv` through `datasets`; `.txt`/`.md` as one text), a folder
(every `.txt`/`.md` file below it, sorted, each file one text) or any `datasets.load_dataset` id.
Each source row's text is cut into documents of at most `chunk_chars` characters; pieces under
`min_chars` are dropped. Errors name the file or dataset and the field: a missing file, an unknown
file type, a text field that is not a column (with the columns there are), an empty file, a corpus
with no document left after chunking.

What it does not do: sample (sampler.py), deduplicate, or clean markup out of the texts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sparring.environments.corpus import Document
from sparring.environments.corpus.chunking import chunk_text
from sparring.environments.corpus.stdlib import stdlib_documents

logger = logging.getLogger(__name__)

_LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class CorpusSource:
    """One corpus and how its texts become documents (give exactly one of stdlib, path, dataset)."""

    stdlib: bool = False  # the installed Python standard library's docstrings (offline, no download)
    path: str | None = None  # a local .jsonl/.json/.parquet/.csv/.txt file, or a folder of .txt/.md files
    dataset: str | None = None  # any `datasets.load_dataset` id
    name: str | None = None  # the dataset's config name
    split: str = "train"  # the dataset's split
    text_field: str = "text"  # the column holding the text (tabular files and datasets)
    chunk_chars: int = 1500  # the longest document in characters; longer texts are cut into pieces
    min_chars: int = 200  # the shortest document kept, in characters
    streaming: bool = False  # read rows lazily; DocumentSampler then shuffles in buffers, not epochs
    shuffle_buffer: int = 1000  # documents shuffled together when streaming
    limit: int | None = None  # read at most this many source rows (stdlib: documents)

    def __post_init__(self) -> None:
        given = [key for key, value in (("stdlib", self.stdlib), ("path", self.path), ("dataset", self.dataset))
                 if value]
        if len(given) != 1:
            raise ValueError(f"a corpus source needs exactly one of stdlib, path, dataset; got {given or 'none'}")
        if self.chunk_chars < 1 or not 0 <= self.min_chars <= self.chunk_chars:
            raise ValueError(f"need chunk_chars >= 1 and 0 <= min_chars <= chunk_chars; "
                             f"got chunk_chars={self.chunk_chars}, min_chars={self.min_chars}")
        if self.shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be at least 1, got {self.shuffle_buffer}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {self.limit}")

    @property
    def where(self) -> str:
        """The source in words, for messages and `Document.source`."""
        if self.stdlib:
            return "stdlib"
        if self.path is not None:
            return self.path
        return ":".join(part for part in (self.dataset, self.name, self.split) if part)


def load_documents(source: CorpusSource) -> list[Document]:
    """Every document of `source`, in source order (a dataset id is downloaded and cached first)."""
    started = time.perf_counter()
    if source.stdlib:
        docs = _stdlib(source)
    else:
        docs = [doc for _, text_source, text_row, text in _texts(source, streaming=False)
                for doc in _documents(text_source, text_row, text, source)]
    if not docs:
        raise _no_documents(source)
    logger.info("corpus %s: %d documents in %.1fs", source.where, len(docs), time.perf_counter() - started)
    return docs


def iter_documents(source: CorpusSource, skip_rows: int = 0) -> Iterator[tuple[int, Document]]:
    """(source row, document) pairs read lazily, starting at row `skip_rows`; a row's pieces in order.

    Rows are what `skip_rows` and `limit` count: a file line or table row, a folder's file, a
    stdlib document. Raises after reading everything if a stream from row 0 gave no document.
    """
    if skip_rows < 0:
        raise ValueError(f"skip_rows must be >= 0, got {skip_rows}")
    if source.stdlib:
        pairs: Iterable[tuple[int, Document]] = list(enumerate(_stdlib(source)))[skip_rows:]
    else:
        pairs = ((row, doc) for row, text_source, text_row, text in _texts(source, True, skip_rows)
                 for doc in _documents(text_source, text_row, text, source))
    found = False
    for pair in pairs:
        found = True
        yield pair
    if not found and skip_rows == 0:
        raise _no_documents(source)


def _stdlib(source: CorpusSource) -> list[Document]:
    docs = stdlib_documents(min_chars=source.min_chars, chunk_chars=source.chunk_chars)
    return docs if source.limit is None else docs[:source.limit]


def _documents(text_source: str, row: int, text: str, source: CorpusSource) -> list[Document]:
    """One source row's text as documents: "<source>#<row>", or "<source>#<row>.<chunk>" when cut."""
    pieces = chunk_text(text, source.chunk_chars, source.min_chars)
    if len(pieces) == 1:
        return [Document(f"{text_source}#{row}", pieces[0], text_source)]
    return [Document(f"{text_source}#{row}.{i}", piece, text_source) for i, piece in enumerate(pieces)]


def _texts(source: CorpusSource, streaming: bool, skip_rows: int = 0) -> Iterator[tuple[int, str, int, str]]:
    """(row, Document.source, row within that source, text) for each row from `skip_rows`, up to `limit`.

    The two rows differ for a folder: its files are rows of the stream, each the row 0 of its own source.
    """
    if source.dataset is not None:
        import datasets

        data = datasets.load_dataset(source.dataset, source.name, split=source.split, streaming=streaming)
        yield from _table_texts(data, source, skip_rows)
        return
    path = Path(source.path)
    if not path.exists():
        raise FileNotFoundError(f"corpus path {path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _TEXT_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"{path}: no .txt or .md files in this folder")
        for row, file in enumerate(files[:source.limit]):
            if row >= skip_rows:
                yield row, str(file), 0, _read_text(file)
        return
    suffix = path.suffix.lower()
    if suffix not in _LOADERS and suffix not in _TEXT_SUFFIXES:
        raise ValueError(f"{path}: unknown corpus file type {suffix!r}; use one of "
                         f"{sorted(_LOADERS) + list(_TEXT_SUFFIXES)} or a folder of .txt/.md files")
    if _is_blank(path):  # `datasets` fails on an empty file with an error that does not name it
        raise ValueError(f"{path}: the corpus file is empty")
    if suffix in _TEXT_SUFFIXES:
        if skip_rows == 0 and source.limit != 0:
            yield 0, str(path), 0, _read_text(path)
        return
    import datasets
    from datasets.exceptions import DatasetsError  # bound here: a stream closed at exit still finds it

    try:
        data = datasets.load_dataset(_LOADERS[suffix], data_files=str(path), split="train", streaming=streaming)
        yield from _table_texts(data, source, skip_rows)
    except DatasetsError as exc:
        raise ValueError(f"{path}: could not be read as {_LOADERS[suffix]}: {exc}") from exc


def _table_texts(data, source: CorpusSource, skip_rows: int) -> Iterator[tuple[int, str, int, str]]:
    """Texts of a `datasets.Dataset` or `IterableDataset`; the text field is checked on every row."""
    field, where = source.text_field, source.where
    if data.column_names is not None and field not in data.column_names:
        raise ValueError(f"{where}: text_field {field!r} is not a column; columns: {sorted(data.column_names)}")
    for row, record in enumerate(data.skip(skip_rows) if skip_rows else data, start=skip_rows):
        if source.limit is not None and row >= source.limit:
            return
        if field not in record:
            raise ValueError(f"{where}: row {row} has no text_field {field!r}; columns: {sorted(record)}")
        text = record[field]
        if text is None:
            continue
        if not isinstance(text, str):
            raise TypeError(f"{where}: row {row}: text_field {field!r} holds {type(text).__name__}, not a string")
        yield row, where, row, text


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc})") from exc


def _is_blank(path: Path) -> bool:
    with path.open("rb") as f:
        while block := f.read(1 << 16):
            if block.strip():
                return False
    return True


def _no_documents(source: CorpusSource) -> ValueError:
    tabular = source.dataset is not None or (source.path is not None and Path(source.path).suffix.lower() in _LOADERS)
    field = f" in text_field {source.text_field!r}" if tabular else ""
    rows = f" of the first {source.limit} rows" if source.limit is not None else ""
    return ValueError(f"{source.where}: no documents: no piece of the texts{field}{rows} has min_chars="
                      f"{source.min_chars} characters (texts are cut into pieces of chunk_chars={source.chunk_chars})")
