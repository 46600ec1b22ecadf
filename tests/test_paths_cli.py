"""Path commands: one-line refusals of bad input, and `connect` on checkpoints of the model zoo."""

import csv

import pytest

from geomanifold.cli import main
from geomanifold.experiments.connect import ConnectOptions


@pytest.mark.parametrize("points", ["1", "2"])
def test_connect_refuses_paths_without_an_interior(points, tmp_path, capsys):
    status = main(["connect", "--points", points, "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in err
    assert "--points must be an integer >= 3 (the two endpoints and at least one interior point" in err
    assert err.endswith(f"of each path), got {points}")
    assert not any(tmp_path.iterdir())


def test_connect_options_refuse_bad_values():
    with pytest.raises(ValueError, match=r"^--points must be an integer >= 3"):
        ConnectOptions(points=True)
    with pytest.raises(ValueError, match=r"^--align must be one of none, weights, activations, both, all"):
        ConnectOptions(align="permute")


def test_connect_joins_checkpoints_of_the_model_zoo(tmp_path, capsys):
    tiny = [
        "--data",
        "digits",
        "--arch",
        "resnet18",
        "--width",
        "2",
        "--batch-size",
        "256",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--no-progress",
    ]
    for seed in ("0", "1"):
        assert main(["train", "--out", str(tmp_path / seed), "--seed", seed, *tiny]) == 0
    status = main(
        [
            "connect",
            str(tmp_path / "0" / "model.pt"),
            str(tmp_path / "1" / "model.pt"),
            "--out",
            str(tmp_path / "c"),
            "--methods",
            "straight,geodesic",
            "--align",
            "all",
            "--steps",
            "2",
            "--interior",
            "1",
            "--points",
            "3",
            "--threads",
            "1",
            "--no-progress",
        ]
    )
    assert status == 0, capsys.readouterr().err
    with open(tmp_path / "c" / "connect_summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == [
        "straight",
        "geodesic",
        "straight (aligned)",
        "geodesic (aligned)",
        "straight (activation-aligned)",
        "geodesic (activation-aligned)",
    ]
    assert all(0 <= float(row["path_ensemble_accuracy"]) <= 1 for row in rows)
