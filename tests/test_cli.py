"""The ``geomanifold`` command line: help, the demo's outputs, usage errors."""

from __future__ import annotations

import csv
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geomanifold.cli import main
from geomanifold.plotting import split_at_wraps

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("geomanifold")
    return [str(script)] if script.exists() else [sys.executable, "-m", "geomanifold.cli"]


def test_help_lists_demo():
    result = subprocess.run([*_console_script(), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout


def test_help_in_process(capsys):
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--out" in out and "--points" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        [],
        ["--bogus"],
        ["demo", "--bogus"],
        ["demo", "--points", "0"],
        ["demo", "--points", "many"],
        ["demo", "--only", "no-such-step"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_unknown_subcommand_console_script():
    result = subprocess.run([*_console_script(), "bogus"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    argv = ["demo", "--only", "geometry", "--out", str(out), "--points", "2", "--no-progress"]
    argv += ["--threads", "2"]
    assert main(argv) == 0
    return out


def test_demo_json_table(demo_out):
    payload = json.loads((demo_out / "geometry_table.json").read_text())
    rows = payload["rows"]
    # 4 surfaces x 2 points x 5 quantities, plus 5 totals
    assert len(rows) == 4 * 2 * 5 + 5
    for row in rows:
        assert math.isfinite(row["computed"]) and math.isfinite(row["closed_form"])
        assert row["abs_error"] == pytest.approx(abs(row["computed"] - row["closed_form"]), abs=1e-15)
        assert row["abs_error"] < 1e-8, row
    assert payload["max_abs_error"] < 1e-8
    quantities = {(r["manifold"], r["quantity"]) for r in rows}
    assert ("torus R=2 r=1", "gaussian_curvature") in quantities
    assert ("sphere r=2", "area") in quantities
    assert ("circle r=1.5", "length") in quantities
    area = next(r for r in rows if r["manifold"] == "torus R=2 r=1" and r["quantity"] == "area")
    assert area["closed_form"] == pytest.approx(4 * math.pi**2 * 2.0)


def test_demo_csv_table(demo_out):
    with (demo_out / "geometry_table.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 45
    assert set(rows[0]) == {"manifold", "quantity", "s0", "s1", "computed", "closed_form", "abs_error"}
    assert max(float(r["abs_error"]) for r in rows) < 1e-8
    assert all(float(r["computed"]) == pytest.approx(float(r["closed_form"]), abs=1e-8) for r in rows)


def test_demo_png(demo_out):
    data = (demo_out / "torus_curvature.png").read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 400
    assert len(data) > 50_000  # a rendered figure, not an empty canvas


def test_demo_summary(demo_out):
    summary = json.loads((demo_out / "demo_summary.json").read_text())
    assert "geometry" in summary["steps"]
    assert summary["steps"]["geometry"]["max_abs_error"] < 1e-8


def test_split_at_wraps_cuts_at_the_seam():
    t = np.linspace(0.0, 1.0, 11)
    path = np.stack([-1 + 8 * t, 0.5 + 3 * t], -1)  # crosses u = 0 and u = 2π, v not periodic
    pieces = split_at_wraps(path, [2 * math.pi, None])
    assert len(pieces) == 3
    for piece in pieces:
        assert (piece[:, 0] >= -1e-12).all() and (piece[:, 0] <= 2 * math.pi + 1e-12).all()
        assert (np.abs(np.diff(piece[:, 0])) < 1.0).all()  # no jump across the plot
    assert pieces[0][-1, 0] == pytest.approx(2 * math.pi)
    assert pieces[1][0, 0] == pytest.approx(0.0)
    assert pieces[0][-1, 1] == pytest.approx(pieces[1][0, 1])


def test_ctrl_c_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    """Ctrl-C at step 5 of ``train`` (checkpoints every 2 steps): one line with the step, the last
    checkpoint and --resume, exit status 130; --resume then finishes the run."""
    import torch.nn.functional as F

    import geomanifold.experiments.networks as networks

    real_fit = networks.fit
    calls = [0]

    def interrupting_loss(logits, y):
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return F.cross_entropy(logits, y)

    monkeypatch.setattr(networks, "fit", lambda *a, **k: real_fit(*a, **k, loss_fn=interrupting_loss))
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--width", "8", "--epochs", "1", "--checkpoint-every", "2",
            "--no-progress", "--out", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err == (
        f"geomanifold train: interrupted at step 4; last checkpoint {str(out / 'model.pt')!r} (step 4); "
        "rerun with --resume (and the same options) to continue\n"
    )
    assert not (out / "train_summary.json").exists()  # no result written as if the run were complete
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    assert json.loads((out / "train_summary.json").read_text())["epochs"] == 1


def test_summaries_over_one_seed_say_so_instead_of_nan(tmp_path, capsys):
    """sparsify/continual print ``mean ± h`` over seeds, ``mean (1 seed)`` for one, never ``± nan``."""
    import argparse

    from geomanifold.commands.walks import run_walk
    from geomanifold.summary import format_mean_interval, mean_interval, summarise_over_seeds

    assert format_mean_interval(*mean_interval([0.5])) == "0.5000 (1 seed)"
    mean, half = mean_interval([0.5, 0.7])
    assert format_mean_interval(mean, half) == f"0.6000 ± {half:.4f}" and half > 0
    assert format_mean_interval(*mean_interval([])) == "n/a"

    def one_seed_run(out, settings, seeds, device, progress):
        rows = [{"sparsity": 0.5, "method": "FIP", "test_accuracy": 0.91, "seed": s} for s in seeds]
        return {"summary": summarise_over_seeds(rows, ("sparsity", "method"), ("test_accuracy",))}

    args = argparse.Namespace(out=tmp_path, seeds=[0], no_progress=True, device="cpu", threads=None)
    assert run_walk(args, one_seed_run, None, ("sparsity", "method"), ("test_accuracy",)) == 0
    out = capsys.readouterr().out
    assert "0.9100 (1 seed)" in out and "nan" not in out
