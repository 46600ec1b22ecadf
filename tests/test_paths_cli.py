"""Path commands: one-line refusals of bad input."""

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
