"""geomanifold.checkpoint: weights-only round trips, atomic writes, mismatches named."""

from __future__ import annotations

import io
import json
import os
import pickle

import pytest
import torch
from torch import nn

import geomanifold.checkpoint as checkpoint_module
from geomanifold import (
    Bernstein,
    BSpline,
    Fourier,
    Line,
    NaturalGradientAdam,
    NaturalGradientSGD,
    TensorProduct,
    WeightManifold,
)
from geomanifold.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    describe_basis,
    load_checkpoint,
    load_into,
    save_checkpoint,
)
from geomanifold.io import atomic_write, write_json


def mlp(hidden: int = 8, layers: int = 2) -> nn.Module:
    torch.manual_seed(0)
    parts: list[nn.Module] = [nn.Linear(4, hidden), nn.ReLU()]
    for _ in range(layers - 2):
        parts += [nn.Linear(hidden, hidden), nn.ReLU()]
    return nn.Sequential(*parts, nn.Linear(hidden, 3))


def trained(basis=None, metric="chart", steps: int = 3):
    """A weight-manifold MLP after a few natural-gradient steps with momentum (non-empty state)."""
    model = WeightManifold(mlp(), basis or Line(), noise=0.2, generator=torch.Generator().manual_seed(0))
    optimizer = NaturalGradientSGD(model.param_groups(), lr=0.1, momentum=0.9, metric=metric)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 4, generator=generator)
        s = torch.rand(16, model.basis.dim, generator=generator)
        optimizer.zero_grad()
        model(x, s).square().mean().backward()
        optimizer.observe(s)
        optimizer.step()
    return model, optimizer


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_restores_model_optimizer_and_metric_state(tmp_path):
    model, optimizer = trained(metric="empirical")
    path = save_checkpoint(tmp_path / "a.pt", model, optimizer, {"lr": 0.1, "tags": ["x"]}, step=3)
    payload = load_checkpoint(path)
    assert payload["format_version"] == FORMAT_VERSION and payload["step"] == 3
    assert payload["metadata"] == {"lr": 0.1, "tags": ["x"]}
    assert payload["optimizer_class"] == "NaturalGradientSGD"
    assert json.loads(json.dumps(payload["basis"])) == describe_basis(Line())

    fresh = WeightManifold(mlp(), Line())
    fresh_optimizer = NaturalGradientSGD(fresh.param_groups(), lr=0.1, momentum=0.9, metric="empirical")
    load_into(fresh, path, fresh_optimizer)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    moments = [g["metric"].moment for g in (optimizer.param_groups[0], fresh_optimizer.param_groups[0])]
    assert torch.equal(*moments) and fresh_optimizer.param_groups[0]["metric"].count == 48
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(optimizer.state[p]["momentum_buffer"], fresh_optimizer.state[q]["momentum_buffer"])
    # the next step is the same on both
    x, s = torch.randn(8, 4), torch.rand(8, 1)
    for m, o in ((model, optimizer), (fresh, fresh_optimizer)):
        o.zero_grad()
        m(x, s).square().mean().backward()
        o.observe(s)
        o.step()
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(a, b)


def test_adam_state_round_trip(tmp_path):
    model = WeightManifold(mlp(), Fourier(1))
    optimizer = NaturalGradientAdam(model.param_groups(), lr=1e-2)
    model(torch.randn(5, 4), torch.rand(5, 1)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "adam.pt", model, optimizer)
    fresh = WeightManifold(mlp(), Fourier(1))
    fresh_optimizer = NaturalGradientAdam(fresh.param_groups(), lr=1e-2)
    load_into(fresh, path, fresh_optimizer)
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(optimizer.state[p][key], fresh_optimizer.state[q][key])


def test_data_parallel_wrapper_is_transparent(tmp_path):
    model, _ = trained()
    path = save_checkpoint(tmp_path / "dp.pt", nn.DataParallel(model))
    assert not any(key.startswith("module.") for key in load_checkpoint(path)["model"])
    fresh = WeightManifold(mlp(), Line())
    load_into(nn.DataParallel(fresh), path)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True))


# ----------------------------------------------------------------------------- mismatches
@pytest.fixture
def line_checkpoint(tmp_path):
    model, optimizer = trained()
    return save_checkpoint(tmp_path / "line.pt", model, optimizer)


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (
            Fourier(1),
            r"saved with basis Line\(\) \(K=2, s\[\.\.\., 0\] in \[0, 1\]\), but the model has Fourier\("
            r"order=1, include_constant=True\) \(K=3, s\[\.\.\., 0\] periodic with period 1\)",
        ),
        (Bernstein(2), r"basis Line\(\) \(K=2.*but the model has Bernstein\(2\) \(K=3"),
        (TensorProduct(Line(), Line()), r"but the model has TensorProduct\(Line\(\), Line\(\)\) \(K=4"),
    ],
)
def test_other_basis_or_k_is_named(line_checkpoint, other, message):
    with pytest.raises(CheckpointError, match=message):
        load_into(WeightManifold(mlp(), other), line_checkpoint)


def test_same_class_and_k_but_other_basis_functions(tmp_path):
    model = WeightManifold(mlp(), BSpline([0, 0, 0, 0.5, 1, 1, 1], 2))
    path = save_checkpoint(tmp_path / "spline.pt", model)
    other = WeightManifold(mlp(), BSpline([0, 0, 0, 0.3, 1, 1, 1], 2))
    with pytest.raises(CheckpointError, match=r"same class and K, other basis functions"):
        load_into(other, path)
    load_into(WeightManifold(mlp(), BSpline([0, 0, 0, 0.5, 1, 1, 1], 2)), path)  # the same one loads


def test_plain_model_and_weight_manifold_do_not_mix(tmp_path, line_checkpoint):
    with pytest.raises(CheckpointError, match=r"saved with basis Line\(\).*model has no basis"):
        load_into(mlp(), line_checkpoint)
    plain = save_checkpoint(tmp_path / "plain.pt", mlp())
    with pytest.raises(CheckpointError, match=r"saved with basis no basis \(not a WeightManifold\)"):
        load_into(WeightManifold(mlp(), Line()), plain)


def test_architecture_mismatch_names_keys_and_shapes(line_checkpoint):
    with pytest.raises(
        CheckpointError,
        match=r"model.0.layer.weight has shape \(2, 8, 4\) in the checkpoint, \(2, 16, 4\) in the model",
    ):
        load_into(WeightManifold(mlp(hidden=16), Line()), line_checkpoint)
    missing = r"architecture: missing keys model.4.layer.weight, model.4.layer.bias$"
    with pytest.raises(CheckpointError, match=missing):
        load_into(WeightManifold(mlp(layers=3), Line()), line_checkpoint)
    deeper = save_checkpoint(line_checkpoint.with_name("deeper.pt"), WeightManifold(mlp(layers=4), Line()))
    with pytest.raises(CheckpointError, match=r"unexpected keys model.4.layer.weight, model.4.layer.bias, "
                                              r"model.6.layer.weight and 1 more$"):
        load_into(WeightManifold(mlp(layers=2), Line()), deeper)


def test_optimizer_mismatches(tmp_path, line_checkpoint):
    model = WeightManifold(mlp(), Line())
    with pytest.raises(CheckpointError, match="holds the state of optimizer NaturalGradientSGD, not of SGD"):
        load_into(model, line_checkpoint, torch.optim.SGD(model.parameters(), lr=0.1))
    without = save_checkpoint(tmp_path / "no_opt.pt", model)
    with pytest.raises(CheckpointError, match="holds no optimizer state to load into NaturalGradientSGD"):
        load_into(model, without, NaturalGradientSGD(model.param_groups(), lr=0.1))
    split = NaturalGradientSGD([{"params": model.control_points()[:2], "basis": Line()}], lr=0.1)
    with pytest.raises(CheckpointError, match="the optimizer state does not fit NaturalGradientSGD"):
        load_into(model, line_checkpoint, split)


def test_model_untouched_when_the_optimizer_does_not_fit(line_checkpoint):
    model = WeightManifold(mlp(), Line())
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(CheckpointError):
        load_into(model, line_checkpoint, torch.optim.SGD(model.parameters(), lr=0.1))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# ----------------------------------------------------------------------------- files
def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    model, optimizer = trained()
    save_checkpoint(path, model, optimizer, step=1)
    previous = path.read_bytes()

    def half_then_crash(target, write):
        def broken(stream):
            data = io.BytesIO()
            write(data)
            stream.write(data.getvalue()[: len(data.getvalue()) // 2])
            raise OSError("No space left on device")

        return atomic_write(target, broken)

    monkeypatch.setattr(checkpoint_module, "atomic_write", half_then_crash)
    with torch.no_grad():
        model.control_points()[0].add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, model, optimizer, step=2)
    assert path.read_bytes() == previous
    assert files_in(tmp_path) == ["run.pt"]  # no temporary file left behind
    assert load_checkpoint(path)["step"] == 1


def test_crash_at_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    model, _ = trained()
    save_checkpoint(path, model, step=1)
    previous = path.read_bytes()

    def refuse(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, step=2)
    monkeypatch.undo()
    assert path.read_bytes() == previous and files_in(tmp_path) == ["run.pt"]


class _Payload:
    """Unpickling this object runs ``_record`` (a stand-in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_record, (self.marker,))


def _record(marker: str) -> str:
    with open(marker, "w") as handle:
        handle.write("code ran")
    return marker


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": FORMAT_VERSION, "step": 0, "metadata": {}, "model": {},
                "hook": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
        load_into(mlp(), path)
    assert not marker.exists()
    # the same object through plain pickle does run: the check above is not vacuous
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("folder", "is a folder; expected a checkpoint file"),
        (b"not a checkpoint at all", "is not a readable checkpoint"),
        ({"weights": torch.zeros(2)}, "is not a geomanifold checkpoint"),
        ({"format_version": 99}, "has format version 99; this geomanifold reads version 1"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_describe_basis_is_json_like_and_tells_bases_apart():
    bases = [Line(), Bernstein(2), Fourier(1), Fourier(2), TensorProduct(Fourier(1), Line())]
    descriptions = [describe_basis(b) for b in bases]
    assert all(json.loads(json.dumps(d)) == d for d in descriptions)
    assert len({json.dumps(d, sort_keys=True) for d in descriptions}) == len(bases)
    assert describe_basis(Fourier(2)) == describe_basis(Fourier(2))
    assert [len(d["values"][0]) for d in descriptions] == [b.size for b in bases]


# ------------------------------------------------------------------------------ result files
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_json(tmp_path / "result.json", {"a": 1})
        save_checkpoint(tmp_path / "model.pt", mlp())
    finally:
        os.umask(previous)
    for name in ("result.json", "model.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_orphaned_temporary_files_are_removed_by_the_next_write(tmp_path):
    """A write killed outright (SIGKILL) leaves ``.{name}.{pid}.*.tmp``; the next write of the same
    file removes it when that process is gone, and leaves a live writer's file alone."""
    gone = 2**31 - 2  # above any pid_max: no such process
    orphan = tmp_path / f".result.json.{gone}.x1y2.tmp"
    live = tmp_path / f".result.json.{os.getpid()}.a1b2.tmp"  # a write in progress in this process
    other = tmp_path / f".other.json.{gone}.c3d4.tmp"  # another file's: not this write's business
    for path in (orphan, live, other):
        path.write_bytes(b"x" * 100)
    write_json(tmp_path / "result.json", {"a": 1})
    assert files_in(tmp_path) == sorted(["result.json", live.name, other.name])


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: (p / "out.json").mkdir(), IsADirectoryError, "out.json' is a folder; expected a file"),
        (lambda p: (p / "f").write_text(""), NotADirectoryError, "'.*f' is a file; cannot create"),
    ],
)
def test_atomic_write_tells_files_and_folders_apart(tmp_path, make, error, message):
    make(tmp_path)
    target = tmp_path / "out.json" if error is IsADirectoryError else tmp_path / "f" / "out.json"
    with pytest.raises(error, match=message):
        write_json(target, {})
