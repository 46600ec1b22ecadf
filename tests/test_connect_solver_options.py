"""``geomanifold connect --redraw --holdout``: the geodesic solver's batch redrawing and held-out
check reach :func:`solve_geodesic`; bad values get one line naming the option."""

from __future__ import annotations

import pytest

import geomanifold.experiments.connect as connect
from geomanifold.cli import main
from geomanifold.experiments.connect import ConnectOptions
from geomanifold.experiments.datasets import load_data
from geomanifold.experiments.networks import build_network
from geomanifold.weightspace import parameter_vector


@pytest.mark.parametrize(("redraw", "holdout"), [(0, 0), (3, 40)])
def test_redraw_and_holdout_reach_the_solver(monkeypatch, redraw, holdout):
    seen = {}
    solve = connect.solve_geodesic

    def recording(*args, **kwargs):
        seen.update(redraw=kwargs["redraw"], holdout=kwargs["holdout"])
        result = solve(*args, **kwargs)
        seen["checks"] = len(result.held_out)
        return result

    monkeypatch.setattr(connect, "solve_geodesic", recording)
    split = load_data("digits")
    a, b = (build_network("mlp", split, 4, seed) for seed in (0, 1))
    options = ConnectOptions(steps=6, interior=2, metric_batch=32, redraw=redraw, holdout=holdout)
    connect._path("geodesic", a, parameter_vector(a), parameter_vector(b), split, options, 0, False)
    # a held-out check at the start and after each round of `redraw` steps (one round when 0)
    rounds = 6 // redraw if redraw else 1
    assert seen == {"redraw": redraw, "holdout": holdout, "checks": rounds + 1 if holdout else 0}


class Stop(Exception):
    """Raised where the command line has built its options: nothing needs to run further."""


def test_the_command_line_passes_them_on(monkeypatch, tmp_path):
    captured = {}

    def stop(model_a, model_b, split, options, *rest):
        captured["options"] = options
        raise Stop

    monkeypatch.setattr("geomanifold.experiments.connect.connect_networks", stop)
    monkeypatch.setattr(
        "geomanifold.experiments.connect.train_endpoints",
        lambda split, arch, width, *rest, **kw: (build_network(arch, split, width, 0),) * 2,
    )
    with pytest.raises(Stop):
        main(["connect", "--data", "digits", "--width", "4", "--redraw", "0", "--holdout", "17",
              "--out", str(tmp_path), "--threads", "1", "--no-progress"])
    assert (captured["options"].redraw, captured["options"].holdout) == (0, 17)


@pytest.mark.parametrize(
    ("words", "option"), [(["--redraw", "-1"], "--redraw"), (["--holdout", "half"], "--holdout")]
)
def test_bad_values_are_one_line_naming_the_option(capsys, words, option):
    assert main(["connect", *words]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert option in lines[-1] and "integer >= 0" in lines[-1]


@pytest.mark.parametrize("field", ["redraw", "holdout"])
@pytest.mark.parametrize("value", [-1, 2.5, True])
def test_connect_options_reject_what_the_solver_cannot_use(field, value):
    with pytest.raises(ValueError, match=f"--{field} must be an integer >= 0") as info:
        ConnectOptions(**{field: value})
    assert "\n" not in str(info.value)
