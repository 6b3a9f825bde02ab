"""Metrics: JSONL lines under namespaced keys, a progress bar on the terminal, and the configured
backends (TensorBoard, W&B: metric_sinks.py), which mirror every scalar and never stop a run."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

from sparring.training.metric_sinks import scalars

log = logging.getLogger(__name__)


class MetricsLogger:
    def __init__(self, path: str | Path, total_steps: int, show_progress: bool = True, sinks: list | None = None) -> None:
        self.path = Path(path)
        self.sinks = list(sinks or [])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.total = total_steps
        self._progress = None
        self._task = None
        if show_progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            )

    def __enter__(self):
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, info="")
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
        for sink in self.sinks:
            self._guard(sink, "close")

    def log(self, step: int, metrics: dict[str, float], info: str = "") -> None:
        record = {"step": step, "time": time.time()}
        record.update({k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in metrics.items()})
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        values = scalars(metrics)
        for sink in list(self.sinks):
            self._guard(sink, "log", step, values)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=step, info=info)
        else:
            log.info("step %d %s", step, info)

    def _guard(self, sink, method: str, *args) -> None:
        """Call a sink; a failure is a warning and switches that sink off."""
        try:
            getattr(sink, method)(*args)
        except Exception as e:
            log.warning("metrics backend %s failed (%s: %s); it is off for the rest of the run", sink.name,
                        type(e).__name__, e)
            if sink in self.sinks:
                self.sinks.remove(sink)

    def advance_to(self, step: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=step)


def read_metrics(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def log_sizes(paths: dict[str, Path]) -> dict[str, int]:
    """Bytes in each append-only log now (a checkpoint records them; see `truncate_logs`)."""
    return {name: path.stat().st_size for name, path in paths.items() if path.exists()}


def truncate_logs(paths: dict[str, Path], sizes: dict[str, int]) -> None:
    """Cut each append-only log back to its size at the checkpoint a run resumes from: the lines of
    the steps played after it (and a line torn by the kill) go, since the resumed run writes
    those steps again. A log shorter than recorded is left as it is."""
    for name, size in sizes.items():
        path = paths.get(name)
        if path is not None and path.exists() and path.stat().st_size > size:
            with path.open("r+b") as f:
                f.truncate(size)
