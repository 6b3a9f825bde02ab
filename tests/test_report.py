"""`sparring report`: a report of two short real runs, opened in Debian's Chromium through
Playwright (no browser download): every chart drew axes and data, the sampled-turn table filters
by role, the comparison shows both runs; damaged and empty runs still render with a note."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sparring.report import load_run, watch, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, small_spec_kw, subprocess_env) -> list[Path]:
    root = tmp_path_factory.mktemp("report_runs")
    runs = []
    for seed in (0, 1):
        run_dir = root / f"seed{seed}"
        cfg = {"run": {"output_dir": str(run_dir), "steps": 3, "seed": seed},
               "model": {"name": "tiny", "tiny": small_spec_kw}, "sampling": {"max_new_tokens": 4},
               # against a random opponent the learner sits in both seats (an untrained model
               # forfeits its first move, so in self-play only the first seat would ever act)
               "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 8, "opponent": {"kind": "random"}}],
               "eval": {"every": 1, "episodes": 8}, "metrics": {"samples_per_step": 3}}
        path = root / f"seed{seed}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([sys.executable, "-m", "sparring.cli", "train", str(path), "--no-progress"],
                              capture_output=True, text=True, env=subprocess_env, cwd=root, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(run_dir)
    return runs


def test_the_report_renders_in_a_real_browser(two_runs, tmp_path):
    from playwright.sync_api import sync_playwright

    out = write_report(two_runs, tmp_path / "report.html")
    assert "cdn." not in out.read_text()[:2000] and out.stat().st_size > 1_000_000  # plotly.js inlined
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(out.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg")
        charts = page.query_selector_all(".js-plotly-plot")
        assert len(charts) >= 8
        for chart in charts:
            title = chart.query_selector(".gtitle").text_content()
            assert chart.query_selector_all(".xaxislayer-above .xtick"), f"{title}: no x axis"
            assert chart.query_selector_all(".yaxislayer-above .ytick"), f"{title}: no y axis"
            assert chart.query_selector_all(".scatterlayer .trace"), f"{title}: nothing drawn"
            legend = " ".join(t.text_content() for t in chart.query_selector_all(".legendtext"))
            assert "seed0:" in legend and "seed1:" in legend, f"{title}: the comparison lacks a run"
        evaluation = page.query_selector("#chart1")
        assert "Evaluation (mean payoff" in evaluation.text_content()
        assert len(evaluation.query_selector_all(".scatterlayer .trace")) == 4  # a band and a curve per run

        rows = page.query_selector_all("#samples tbody tr")
        roles = {r.get_attribute("data-role") for r in rows}
        assert roles == {"kuhn_poker/p0", "kuhn_poker/p1"}
        episodes = {r.query_selector_all("td")[2].inner_text() for r in rows}
        assert len(episodes) == 2 * 3 * 3 and len(rows) > len(episodes)  # 3 episodes a step and run, every turn of each
        page.select_option("#role-filter", "kuhn_poker/p1")
        visible = [r for r in rows if r.is_visible()]
        assert visible and len(visible) < len(rows)
        assert all(r.get_attribute("data-role") == "kuhn_poker/p1" for r in visible)
        page.select_option("#role-filter", "")
        assert all(r.is_visible() for r in rows)
        browser.close()


def test_a_run_killed_mid_write_and_an_empty_run_still_render(two_runs, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(two_runs[0], damaged)
    text = (damaged / "metrics.jsonl").read_text()
    (damaged / "metrics.jsonl").write_text(text[: len(text) - 40])  # the last line cut mid-record
    empty = tmp_path / "empty"
    empty.mkdir()
    run = load_run(damaged)
    assert len(run.rows) == 2 and any("incomplete" in n for n in run.notes)  # steps 1 and 2 survive
    page = write_report([damaged, empty], tmp_path / "r.html").read_text()
    assert "metrics.jsonl line 3 is incomplete" in page
    assert "empty: metrics.jsonl is missing" in page and "empty: config.yaml is missing" in page
    only_empty = write_report([empty], tmp_path / "e.html").read_text()
    assert "no metrics to plot yet" in only_empty


def test_watch_rewrites_a_self_reloading_page(two_runs, tmp_path):
    out = tmp_path / "live.html"
    watch(two_runs[:1], out, every_s=1, rounds=2)
    assert "http-equiv='refresh' content='1'" in out.read_text()


def test_cli_report_names_a_missing_run_dir(tmp_path, capsys):
    from sparring.cli import main

    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
