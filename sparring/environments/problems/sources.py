"""Problems from a local file or a `datasets` id.

A local `.jsonl`/`.json`, `.parquet` or `.csv` file, or any id `datasets.load_dataset` can reach
(with an optional config name and split). Fields are configurable: the question, the gold answer
(absent: no ground truth) and optional reference candidates (a string or a list of strings).
A missing field names the file and the fields it has.
"""

from __future__ import annotations

from pathlib import Path

from sparring.environments.problems import Problem

_LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_problems(path: str | None = None, dataset: str | None = None, name: str | None = None,
                  split: str = "train", question_field: str = "question", answer_field: str | None = "answer",
                  candidates_field: str | None = None, limit: int | None = None) -> list[Problem]:
    """Problems from `path` (a local file) or `dataset` (a `load_dataset` id), in file order."""
    import datasets

    if (path is None) == (dataset is None):
        raise ValueError("give exactly one of path (a local file) or dataset (a datasets id)")
    where = path or dataset
    if path is not None:
        suffix = Path(path).suffix.lower()
        if suffix not in _LOADERS:
            raise ValueError(f"{path}: unknown problem file type {suffix!r}; use one of {sorted(_LOADERS)}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"problem file {path} does not exist")
        data = datasets.load_dataset(_LOADERS[suffix], data_files=str(path), split="train")
    else:
        data = datasets.load_dataset(dataset, name, split=split)
    columns = set(data.column_names)
    for key, field in (("question_field", question_field), ("answer_field", answer_field),
                       ("candidates_field", candidates_field)):
        if field is not None and field not in columns:
            raise ValueError(f"{where}: {key} {field!r} is not a column; columns: {sorted(columns)}")
    out = []
    for i, row in enumerate(data):
        if limit is not None and i >= limit:
            break
        gold = row[answer_field] if answer_field is not None else None
        cands = row[candidates_field] if candidates_field is not None else ()
        cands = tuple(str(c) for c in cands) if isinstance(cands, (list, tuple)) else (() if cands is None else (str(cands),))
        out.append(Problem(str(row.get("id", i)), str(row[question_field]), None if gold is None else str(gold), cands))
    if not out:
        raise ValueError(f"{where}: no problems")
    return out
