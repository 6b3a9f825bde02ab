"""`sparring report RUN_DIR [RUN_DIR ...]`: one self-contained HTML file to look at runs.

Reads what a run directory holds (metrics.jsonl, samples.jsonl, config.yaml) and draws, with
plotly (its JavaScript inlined once, so the file opens offline): rewards per arena and role,
evaluation curves with their 95% bands, invalid / forfeit / truncation rates, the loss terms,
KL, entropy, clip fraction, learning rate, the time split of a step, each arena kind's own panels
(`Arena.report_charts`), the config, and sampled episodes move by move (prompt, completion, action,
reward, advantage per turn) filterable by role. Several runs overlay in every chart. A run killed mid-write (a
truncated last line) or not started yet still renders, with a note saying what is missing.
Not here: live metrics backends (training/metric_sinks.py).
"""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

SAMPLE_ROWS = 600  # most sampled turns shown per run (the newest)


@dataclass
class Run:
    name: str
    path: Path
    rows: list[dict] = field(default_factory=list)  # one per step, the last record of each step
    samples: list[dict] = field(default_factory=list)
    config: str = ""
    arenas: list[tuple[str, str]] = field(default_factory=list)  # (name, kind)
    notes: list[str] = field(default_factory=list)


def _read_jsonl(path: Path, notes: list[str]) -> list[dict]:
    if not path.exists():
        notes.append(f"{path.name} is missing")
        return []
    out = []
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            last = i == len(lines)
            notes.append(f"{path.name} line {i} is {'incomplete (the run was stopped mid-write?)' if last else 'not JSON'}: skipped")
    return out


def load_run(path: str | Path) -> Run:
    path = Path(path)
    run = Run(name=path.name or str(path), path=path)
    if not path.is_dir():
        run.notes.append(f"{path} is not a directory")
        return run
    by_step: dict[int, dict] = {}
    for record in _read_jsonl(path / "metrics.jsonl", run.notes):
        if isinstance(record.get("step"), int):
            by_step[record["step"]] = {**by_step.get(record["step"], {}), **record}  # a resumed step: the newer wins
    run.rows = [by_step[s] for s in sorted(by_step)]
    if (path / "metrics.jsonl").exists() and not run.rows:
        run.notes.append("metrics.jsonl holds no step yet")
    run.samples = [s for s in _read_jsonl(path / "samples.jsonl", []) if isinstance(s, dict)][-SAMPLE_ROWS:]
    cfg_path = path / "config.yaml"
    if cfg_path.exists():
        run.config = cfg_path.read_text()
        try:
            data = yaml.safe_load(run.config) or {}
            run.arenas = [(a.get("name", "?"), a.get("kind", "game")) for a in data.get("arenas", [])]
        except yaml.YAMLError:
            run.notes.append("config.yaml is not valid YAML")
    else:
        run.notes.append("config.yaml is missing")
    return run


def _keys(runs: list[Run]) -> list[str]:
    keys: dict[str, None] = {}
    for run in runs:
        for row in run.rows:
            keys.update(dict.fromkeys(k for k, v in row.items() if isinstance(v, (int, float)) and k not in ("step", "time")))
    return list(keys)


def _charts(runs: list[Run], keys: list[str]) -> list[tuple[str, list[str]]]:
    """(title, keys) for every panel that has data."""
    def starting(*prefixes):
        return [k for k in keys if k.startswith(prefixes)]

    charts = [
        ("Reward per arena and role", starting("reward/")),
        ("Evaluation (mean payoff, 95% band)", [k for k in keys if k.startswith("eval/") and k.endswith("/mean_payoff")]),
        ("Evaluation rates", [k for k in keys if k.startswith("eval/") and k.endswith(("/win", "/draw", "/invalid"))]),
        ("Invalid, forfeit and truncation rates", [k for k in ("rollout/invalid_rate", "rollout/forfeit_rate",
                                                               "rollout/truncated_rate") if k in keys]),
        ("Loss", [k for k in ("loss/total", "loss/pg") if k in keys]),
        ("KL and entropy", [k for k in ("loss/kl", "loss/entropy") if k in keys]),
        ("Clip fraction and ratio", [k for k in ("loss/clip_fraction", "loss/ratio_mean") if k in keys]),
        ("Learning rate", [k for k in ("loss/lr",) if k in keys]),
        ("Advantages per role (mean)", [k for k in keys if k.startswith("adv/") and k.endswith("/mean")]),
        ("Critic: value loss and explained variance", [k for k in ("critic/value_loss", "critic/explained_variance")
                                                       if k in keys]),
        ("Critic: value error per role", starting("critic/value_error/")),
        ("Time per step (s)", [k for k in ("perf/rollout_s", "perf/update_s", "perf/az_generation_s",
                                           "perf/az_sandbox_s", "perf/step_s") if k in keys]),
    ]
    from sparring.arenas import arena_class

    seen = set()
    for run in runs:
        for name, kind in run.arenas:
            if (name, kind) in seen:
                continue
            seen.add((name, kind))
            try:
                charts += arena_class(kind).report_charts(name, keys)
            except KeyError:
                run.notes.append(f"arena {name!r}: kind {kind!r} is not registered here (pass --import): no arena panels")
    return [(title, ks) for title, ks in charts if ks]


def _figure(title: str, keys: list[str], runs: list[Run]):
    import plotly.graph_objects as go

    fig = go.Figure()
    overlay = len(runs) > 1
    for run in runs:
        for key in keys:
            points = [(r["step"], r[key]) for r in run.rows if isinstance(r.get(key), (int, float))]
            if not points:
                continue
            xs, ys = zip(*points)
            label = f"{run.name}: {key}" if overlay else key
            band = key[: -len("mean_payoff")] + "mean_payoff_ci95" if key.endswith("/mean_payoff") else None
            half = [r.get(band) for r in run.rows if isinstance(r.get(key), (int, float))] if band else []
            if half and all(isinstance(h, (int, float)) for h in half):
                fig.add_trace(go.Scatter(x=list(xs) + list(xs)[::-1], y=[y + h for y, h in zip(ys, half)] +
                                         [y - h for y, h in zip(ys, half)][::-1], fill="toself", opacity=0.2,
                                         line={"width": 0}, name=f"{label} 95%", showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label))
    fig.update_layout(title=title, xaxis_title="step", height=360, margin={"t": 50, "b": 40, "l": 50, "r": 10},
                      legend={"font": {"size": 10}})
    return fig


def _samples_table(runs: list[Run]) -> str:
    rows = [(run.name, s) for run in runs for s in run.samples]
    if not rows:
        return "<p class='note'>No sampled episodes (samples.jsonl is empty or missing; metrics.samples_per_step: 0?).</p>"

    def number(x):
        return f"{x:+.3f}" if isinstance(x, (int, float)) else "-"

    roles = sorted({s.get("role", "?") for _, s in rows})
    options = "".join(f"<option value='{html.escape(r)}'>{html.escape(r)}</option>" for r in roles)
    body = "".join(
        f"<tr data-role='{html.escape(str(s.get('role')))}'><td>{html.escape(run)}</td><td>{s.get('step')}</td>"
        f"<td>{html.escape(str(s.get('episode', '')))}</td><td>{s.get('turn', '')}</td>"
        f"<td>{html.escape(str(s.get('role')))}</td><td><pre>{html.escape(str(s.get('prompt', '')))}</pre></td>"
        f"<td><pre>{html.escape(str(s.get('completion', '')))}</pre></td>"
        f"<td>{html.escape(str(s.get('action')))}{' (invalid)' if s.get('invalid') else ''}</td>"
        f"<td>{number(s.get('reward'))}</td><td>{number(s.get('advantage'))}</td></tr>" for run, s in rows)
    return (f"<label>role <select id='role-filter' onchange='filterRole(this.value)'><option value=''>all</option>"
            f"{options}</select></label>"
            "<table id='samples'><thead><tr><th>run</th><th>step</th><th>episode</th><th>turn</th><th>role</th>"
            "<th>prompt</th><th>completion</th><th>action</th><th>reward</th><th>advantage</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px}.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px}
.note{color:#a15c00}pre{white-space:pre-wrap;max-height:12em;overflow:auto;margin:0;font-size:11px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px;vertical-align:top}"""
SCRIPT = """function filterRole(role){for(const tr of document.querySelectorAll('#samples tbody tr')){
tr.style.display=(!role||tr.dataset.role===role)?'':'none';}}"""


def render(runs: list[Run], refresh_s: int = 0) -> str:
    """The report as one HTML document (plotly.js inlined once)."""
    import plotly.io as pio

    keys = _keys(runs)
    charts = _charts(runs, keys)
    divs = [pio.to_html(_figure(title, ks, runs), full_html=False, include_plotlyjs=(i == 0), div_id=f"chart{i}")
            for i, (title, ks) in enumerate(charts)]
    notes = [f"<li>{html.escape(run.name)}: {html.escape(n)}</li>" for run in runs for n in run.notes]
    if not charts:
        notes.append("<li>no metrics to plot yet</li>")
    configs = "".join(f"<details><summary>{html.escape(run.name)}: config.yaml</summary><pre>{html.escape(run.config)}</pre>"
                      "</details>" for run in runs if run.config)
    meta = f"<meta http-equiv='refresh' content='{refresh_s}'>" if refresh_s else ""
    steps = ", ".join(f"{html.escape(r.name)} ({len(r.rows)} steps)" for r in runs)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{meta}<title>sparring report</title><style>{STYLE}</style>"
            f"<script>{SCRIPT}</script></head><body><h1>sparring report</h1><p>{steps}; written "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}</p>" + (f"<ul class='note' id='notes'>{''.join(notes)}</ul>" if notes else "")
            + f"<div class='grid'>{''.join(divs)}</div><h2>Config</h2>{configs}<h2>Sampled episodes, move by move</h2>"
            f"{_samples_table(runs)}</body></html>")


def write_report(run_dirs: list[str | Path], out: str | Path, refresh_s: int = 0) -> Path:
    runs = [load_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    for run in runs:  # two runs with one folder name: use their paths
        if names.count(run.name) > 1:
            run.name = str(run.path)
    out = Path(out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render(runs, refresh_s))
    tmp.replace(out)  # a browser that reloads never reads half a file
    return out


def watch(run_dirs: list[str | Path], out: str | Path, every_s: int, rounds: int | None = None) -> None:
    """Rewrite the report every `every_s` seconds (the page reloads itself as often) until
    interrupted, or for `rounds` rounds."""
    done = 0
    while rounds is None or done < rounds:
        write_report(run_dirs, out, refresh_s=every_s)
        done += 1
        if rounds is None or done < rounds:
            time.sleep(every_s)
