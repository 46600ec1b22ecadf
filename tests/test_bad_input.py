"""Bad input across the public entry points: each gets a one-line ``ValueError``/``TypeError``
(or a subclass) naming the argument and what would be valid. Runs the catalogue of
docs/errors.md (tests/error_catalogue.py) against the code, checks the documented error classes,
and backs the rows that no module's own tests cover."""

from __future__ import annotations

import argparse
import re

import pytest
import torch
from error_catalogue import CASES, DOC, class_name, documented, expected_text, normalised, observe_all, row
from torch import nn

import geomanifold as gm
from geomanifold.cli import main
from geomanifold.commands.common import add_checkpoint_options, add_run_options
from geomanifold.data import (
    add_noise,
    cyclic_shift,
    load_digits8x8,
    load_mnist1d,
    noise_and_rotate,
    rotate,
    rotate_and_shift,
    split_train_test,
)
from geomanifold.training import NonFiniteError, apply_context, evaluate, fit, train_epoch


def one_line(error_type, match, fn, *args, **kwargs):
    with pytest.raises(error_type, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- data
def test_loaders_reject_bad_split_fractions():
    """Every packaged loader splits through split_train_test; digits is the quick one to load."""
    one_line(ValueError, r"test_fraction must be in \(0, 1\), got 0", load_digits8x8, test_fraction=0)
    one_line(ValueError, r"test_fraction must be in \(0, 1\), got 1.5",
             split_train_test, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), test_fraction=1.5)


def test_empty_or_mismatched_data_sets():
    empty_x, empty_y = torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)
    one_line(ValueError, "x and y are empty", split_train_test, empty_x, empty_y)
    one_line(ValueError, "x and y must have the same length, got 4 and 3",
             split_train_test, torch.zeros(4, 3), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize(
    "name", ["add_noise", "rotate", "cyclic_shift", "rotate_and_shift", "noise_and_rotate"]
)
def test_transforms_need_floating_x_and_s_on_its_device(name):
    images = torch.zeros(2, 1, 4, 4)
    pair = torch.zeros(2, 2)
    call = {
        "add_noise": lambda x, s: add_noise(x, s[:, 0], 1.0),
        "rotate": lambda x, s: rotate(x, s[:, 0]),
        "cyclic_shift": lambda x, s: cyclic_shift(x, s[:, 0]),
        "rotate_and_shift": rotate_and_shift,
        "noise_and_rotate": lambda x, s: noise_and_rotate(x, s, 1.0),
    }[name]
    one_line(TypeError, r"x must be a floating tensor \(e.g. x.float\(\)\), got torch.int64",
             call, images.long(), pair)
    one_line(ValueError, r"s is on meta but x is on cpu; move s to x's device",
             call, images, pair.to("meta"))
    assert call(images, pair).dtype == torch.float32  # the valid call still works


@pytest.mark.parametrize("num_samples", [0, -10, 9, 12.5, True, "100"])
def test_mnist1d_rejects_bad_sizes(num_samples):
    one_line(ValueError, "num_samples must be an int >= 10", load_mnist1d, num_samples=num_samples)


# ----------------------------------------------------------------------------- training
def _linear():
    model = nn.Linear(3, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_training_rejects_empty_and_mismatched_data():
    model, optimizer = _linear()
    x, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    empty_x, empty_y = torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)
    one_line(ValueError, "x must be a non-empty batch", train_epoch, model, empty_x, empty_y, optimizer)
    one_line(ValueError, "x must be a non-empty batch", fit, model, empty_x, empty_y, optimizer, epochs=1,
             generator=torch.Generator(), progress=False)
    one_line(ValueError, "x must be a non-empty batch", evaluate, model, empty_x, empty_y)
    one_line(ValueError, "x must be a non-empty batch", apply_context, empty_x,
             lambda x, g: (x, torch.zeros(len(x), 1)))
    lengths = "x and y must have the same length, got 4 and 3"
    one_line(ValueError, lengths, train_epoch, model, x, y[:3], optimizer)
    one_line(ValueError, lengths, evaluate, model, x, y[:3])
    wm = gm.WeightManifold(model, gm.Line())
    one_line(ValueError, "s must have one context per example: got 3 for 4 examples",
             evaluate, wm, x, y, torch.rand(3, 1))
    one_line(ValueError, "s is required to evaluate a model that takes a context", evaluate, wm, x, y)
    one_line(ValueError, "context_fn is required for a model that takes a context s",
             train_epoch, wm, x, y, torch.optim.SGD(wm.parameters(), lr=0.1))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1, got 0"),
        ({"epochs": 1.5}, ValueError, "epochs must be an integer >= 1, got 1.5"),
        ({"checkpoint_every": -1}, ValueError, "checkpoint_every must be an integer >= 0, got -1"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator, got int"),
        ({"resume": True}, ValueError, "resume=True needs a checkpoint path"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, message):
    model, optimizer = _linear()
    options = {"epochs": 1, "generator": torch.Generator(), "progress": False} | kwargs
    x, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    one_line(error, message, fit, model, x, y, optimizer, **options)


def test_non_finite_inputs_stop_train_epoch():
    model, optimizer = _linear()
    x = torch.zeros(4, 3)
    x[2, 1] = float("inf")
    before = [p.clone() for p in model.parameters()]
    error = one_line(NonFiniteError, "step 1: the input batch contains NaN or Inf", train_epoch,
                     model, x, torch.zeros(4, dtype=torch.long), optimizer)
    assert (error.step, error.tensor) == (1, "input batch")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# ----------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize("name", ["lr", "momentum", "weight_decay"])
def test_nan_hyper_parameters_are_refused(name):
    p = nn.Parameter(torch.zeros(2, 3))
    options = {"lr": 0.1} | {name: float("nan")}
    one_line(ValueError, f"{name} must be >= 0, got nan", gm.NaturalGradientSGD, [p], **options)
    if name != "momentum":
        one_line(ValueError, f"{name} must be >= 0, got nan", gm.NaturalGradientAdam, [p], **options)


# ----------------------------------------------------------------------------- weight manifold
def test_weight_manifold_context_dtypes_and_domain():
    wm = gm.WeightManifold(nn.Linear(3, 2), gm.Fourier(1))
    x = torch.zeros(4, 3)
    double = torch.zeros(4, 1, dtype=torch.float64)
    one_line(TypeError, "s has dtype torch.float64; expected torch.float32", wm, x, double)
    one_line(ValueError, "s contains NaN or Inf", wm, x, torch.full((4, 1), float("nan")))
    one_line(TypeError, "s must be a tensor or array of numbers, got str", wm, x, "abc")
    # integer contexts are converted, periodic contexts wrap: neither is an error
    torch.testing.assert_close(wm(x, torch.ones(4, 1, dtype=torch.long)), wm(x, torch.zeros(4, 1)))
    one_line(ValueError, r"s must have shape \(1,\), got \(4, 1\)", wm.export, torch.rand(4, 1))


# ----------------------------------------------------------------------------- command line
def test_cli_bad_device_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--device", "nonsense", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("geomanifold demo: error: --device: 'nonsense' is not a torch device")
    assert err.count("\n") == 1
    if not torch.cuda.is_available():
        assert main(["demo", "--out", str(tmp_path), "--device", "cuda:3", "--no-progress"]) == 1
        assert "--device: 'cuda:3' is not available here; available: cpu" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--threads", "0"],
        ["demo", "--seed", "one"],
        ["demo", "--out"],
        ["demo", "--unknown-option", "3"],
    ],
)
def test_cli_bad_options_are_usage_errors(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def _parser(tmp_path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmd", exit_on_error=False)
    add_run_options(parser, tmp_path, several_seeds=True)
    add_checkpoint_options(parser)
    return parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--checkpoint-every", "-1"], "expected an integer >= 0, got -1"),
        (["--checkpoint-every", "x"], "expected an integer >= 0, got 'x'"),
        (["--seeds", "0,0"], "expected distinct seeds"),
        (["--seeds", "0"], "expected a count"),
        (["--threads", "-2"], "expected a positive integer, got -2"),
    ],
)
def test_shared_option_types(tmp_path, argv, message):
    with pytest.raises(argparse.ArgumentError, match=message):
        _parser(tmp_path).parse_args(argv)


def test_checkpoint_options_defaults(tmp_path):
    args = _parser(tmp_path).parse_args(["--checkpoint-every", "5", "--resume"])
    assert (args.checkpoint_every, args.resume) == (5, True)
    args = _parser(tmp_path).parse_args([])
    assert (args.checkpoint_every, args.resume, args.seeds) == (0, False, [0, 1, 2])


def test_cli_missing_data_directory_is_a_one_line_error(tmp_path, capsys):
    out = str(tmp_path / "out")
    nowhere = str(tmp_path / "nowhere")
    assert main(["condition", "--out", out, "--data", "mnist", "--data-dir", nowhere, "--no-progress"]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    expected = f"argument --data-dir: {nowhere!r} does not exist; expected an existing folder"
    assert last == f"geomanifold condition: error: {expected}"
    assert main(["condition", "--out", out, "--data", "mnist", "--no-progress"]) == 1
    assert "--data mnist needs --data-dir DIR" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the catalogue
@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """Every case of the catalogue, run once, each in its own empty working folder."""
    return observe_all(tmp_path_factory.mktemp("catalogue"))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_catalogue(case, observed):
    """The case fails as documented: the class (or exit status), one line naming the argument or
    option, and the very row of docs/errors.md."""
    kind, message = observed[case.id]
    assert kind == expected_text(case), message
    assert "\n" not in message and message
    assert case.names in message
    assert normalised(row(case, (kind, message))) in normalised(documented()), (
        "docs/errors.md is out of date: run python -m tests.error_catalogue"
    )


def test_catalogue_covers_at_least_100_cases_and_the_doc_lists_exactly_them():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) >= 100
    assert re.findall(r"^\| `([\w-]+)` \|", documented(), re.M) == ids
    assert sum(isinstance(case.expect, int) for case in CASES) >= 40  # command lines
    assert all(case.expect != 0 for case in CASES)


def test_error_classes_are_as_documented():
    """Every row of the class table of docs/errors.md names a real class and its real base."""
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w.]+)` \| (?:`([\w.]+)`)? \|", text, re.M)
    assert len(rows) >= 10
    for name, base in rows:
        cls = _resolve(name)
        assert class_name(cls) == name
        if base:
            assert cls.__mro__[1] is _resolve(base), f"{name} is a {cls.__mro__[1].__name__}, not a {base}"
        else:
            assert cls.__module__ == "builtins"


def _resolve(name: str) -> type:
    import builtins
    import importlib

    if "." not in name:
        return getattr(builtins, name)
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)
