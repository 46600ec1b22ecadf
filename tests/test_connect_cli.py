"""``geomanifold train`` and ``geomanifold connect``: outputs, and one-line errors on bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from geomanifold.checkpoint import load_checkpoint, save_checkpoint
from geomanifold.cli import main
from geomanifold.experiments.datasets import load_data
from geomanifold.experiments.networks import build_network

TINY = ["--data", "digits", "--width", "8", "--epochs", "1", "--threads", "1", "--no-progress"]
CONNECT = ["--steps", "2", "--interior", "2", "--bezier-epochs", "1", "--points", "4"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    paths = {}
    for name, extra in (("a", ["--seed", "0"]), ("b", ["--seed", "1"]), ("cnn", ["--arch", "cnn"])):
        assert main(["train", "--out", str(folder / name), *TINY, *extra]) == 0
        paths[name] = folder / name / "model.pt"
    return paths


def test_train_writes_a_checkpoint_with_its_metadata(checkpoints):
    payload = load_checkpoint(checkpoints["a"])
    meta = payload["metadata"]
    assert (meta["data"], meta["arch"], meta["width"], meta["seed"]) == ("digits", "mlp", 8, 0)
    summary = json.loads((checkpoints["a"].parent / "train_summary.json").read_text())
    assert 0 <= summary["test_accuracy"] <= 1


def test_connect_two_checkpoints_writes_tables_and_plot(checkpoints, tmp_path, capsys):
    status = main(
        [
            "connect",
            str(checkpoints["a"]),
            str(checkpoints["b"]),
            "--out",
            str(tmp_path),
            *CONNECT,
            "--threads",
            "1",
            "--no-progress",
        ]
    )
    assert status == 0, capsys.readouterr().err
    with open(tmp_path / "connect_summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    names = [row["path"] for row in rows]
    assert names == [
        "straight",
        "bezier",
        "geodesic",
        "straight (aligned)",
        "bezier (aligned)",
        "geodesic (aligned)",
    ]
    with open(tmp_path / "connect_curves.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 6 * 4
    assert (tmp_path / "connect_along_paths.png").stat().st_size > 0
    result = json.loads((tmp_path / "connect.json").read_text())
    straight = result["paths"]["straight"]
    assert straight["test_loss"][0] == pytest.approx(
        json.loads((checkpoints["a"].parent / "train_summary.json").read_text())["test_loss"], rel=1e-5
    )
    assert "straight" in capsys.readouterr().out


def run_error(argv, capsys) -> tuple[int, str]:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return status, err


def test_connect_refuses_checkpoints_of_different_architectures(checkpoints, tmp_path, capsys):
    status, err = run_error(
        ["connect", str(checkpoints["a"]), str(checkpoints["cnn"]), "--out", str(tmp_path)], capsys
    )
    assert status == 1
    assert "different architectures: arch 'mlp'" in err and "'cnn'" in err


def test_connect_refuses_nan_weights(checkpoints, tmp_path, capsys):
    payload = load_checkpoint(checkpoints["b"])
    model = build_network("mlp", load_data("digits"), 8)
    model.load_state_dict(payload["model"])
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    save_checkpoint(bad, model, metadata=payload["metadata"])
    status, err = run_error(
        ["connect", str(checkpoints["a"]), str(bad), "--out", str(tmp_path / "o")], capsys
    )
    assert status == 1 and "weights of checkpoint" in err and "nan.pt" in err and "1 NaN" in err


def test_connect_needs_two_checkpoints_or_none(checkpoints, tmp_path, capsys):
    status, err = run_error(["connect", str(checkpoints["a"]), "--out", str(tmp_path)], capsys)
    assert status == 1 and "checkpoints: give two (A.pt B.pt) or none, got 1" in err


def test_connect_rejects_unknown_methods(tmp_path, capsys):
    status = main(["connect", "--methods", "straight,teleport", "--out", str(tmp_path)])
    assert status == 2 and "teleport" in capsys.readouterr().err


def test_train_rejects_unknown_architecture(tmp_path, capsys):
    status = main(["train", "--arch", "resnet", "--out", str(tmp_path)])
    assert status == 2 and "--arch" in capsys.readouterr().err
