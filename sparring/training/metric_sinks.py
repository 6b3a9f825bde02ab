"""Metric backends beside metrics.jsonl: TensorBoard and Weights & Biases.

metrics.jsonl is always written (it is the run's record, and what evaluation and reports read);
these sinks mirror every logged scalar under the same key and step. A sink that fails, on
opening or on a write, is a logged warning and is switched off: a metrics backend never costs
a run. Not here: plots or reports of a run.
"""

from __future__ import annotations

import logging
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparring.config import MetricsConfig

log = logging.getLogger(__name__)


class TensorBoardSink:
    """Event files under <run dir>/tensorboard (torch's SummaryWriter; needs `tensorboard`)."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, run_name: str, cfg: MetricsConfig, resume_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run writes the steps after its checkpoint again: drop the killed run's copies
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"),
                                    purge_step=resume_step + 1 if resume_step else None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    """A W&B run in <run dir>/wandb; `metrics.wandb_mode: offline` needs no account or network."""

    name = "wandb"

    def __init__(self, run_dir: Path, run_name: str, cfg: MetricsConfig, resume_step: int = 0) -> None:
        import wandb

        # one W&B run per run directory: a resumed run goes on in it (W&B drops the steps it has)
        id_file = Path(run_dir) / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
        self.run = wandb.init(project=cfg.wandb_project, name=run_name, dir=str(run_dir), mode=cfg.wandb_mode,
                              reinit="create_new", id=run_id, resume="allow")
        id_file.write_text(run_id)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log(dict(metrics), step=step)

    def close(self) -> None:
        self.run.finish()


SINKS = {"tensorboard": TensorBoardSink, "wandb": WandbSink}


def open_sinks(cfg: MetricsConfig | None, run_dir: Path, run_name: str, resume_step: int = 0) -> list:
    """The configured sinks that could be opened (a failure is a warning naming the backend);
    `resume_step`: the checkpoint a resumed run starts from."""
    sinks = []
    for name in (cfg.backends if cfg is not None else []):
        try:
            sinks.append(SINKS[name](run_dir, run_name, cfg, resume_step))
        except Exception as e:  # a missing package, an unwritable dir, a W&B login problem
            log.warning("metrics backend %s is off: %s: %s (metrics.jsonl is still written)", name, type(e).__name__, e)
    return sinks


def scalars(metrics: dict) -> dict[str, float]:
    """The finite numeric values of a metrics record (what the sinks can plot)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
