"""geomanifold.training: the shared step loop, fit's checkpoints, exact resume, non-finite stops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from geomanifold import Line, NaturalGradientAdam, NaturalGradientSGD, WeightManifold
from geomanifold.checkpoint import CheckpointError, load_checkpoint
from geomanifold.data import add_noise, load_digits8x8
from geomanifold.training import DivergenceError, NonFiniteError, TrainingInterrupted, fit, train_epoch

EPOCHS, BATCH = 3, 64


class Crash(RuntimeError):
    """Stands for the process dying in the middle of a run."""


@pytest.fixture(scope="module")
def digits():
    data = load_digits8x8(seed=0)
    return data.x_train[:600].flatten(1), data.y_train[:600]  # (600, 64), 10 batches per epoch


def noise_context(x: torch.Tensor, generator: torch.Generator):
    s = torch.rand(len(x), 1, generator=generator)
    return add_noise(x, s, 1.0, generator), s


def make_run(optimizer_name: str = "sgd", dropout: bool = True):
    """A fresh weight-manifold MLP (dropout: the global RNG matters too) and its optimizer."""
    torch.manual_seed(0)
    layers = [nn.Linear(64, 32), nn.ReLU(), *([nn.Dropout(0.2)] if dropout else []), nn.Linear(32, 10)]
    noise = torch.Generator().manual_seed(1)
    model = WeightManifold(nn.Sequential(*layers), Line(), noise=0.1, generator=noise)
    if optimizer_name == "sgd":
        optimizer = NaturalGradientSGD(model.param_groups(), lr=0.05, momentum=0.9)
    elif optimizer_name == "empirical":
        optimizer = NaturalGradientSGD(model.param_groups(), lr=0.05, momentum=0.5, metric="empirical")
    else:
        optimizer = NaturalGradientAdam(model.param_groups(), lr=1e-3)
    return model, optimizer


def crashing_loss(after: int):
    """Cross-entropy that raises :class:`Crash` at its call number ``after + 1``."""
    calls = [0]

    def loss(logits, y):
        calls[0] += 1
        if calls[0] > after:
            raise Crash(f"killed at step {calls[0]}")
        return F.cross_entropy(logits, y)

    return loss


def run_fit(model, optimizer, data, **kwargs):
    x, y = data
    kwargs.setdefault("epochs", EPOCHS)
    kwargs.setdefault("generator", torch.Generator().manual_seed(7))
    return fit(model, x, y, optimizer, context_fn=noise_context, batch_size=BATCH, progress=False, **kwargs)


@pytest.mark.parametrize(
    ("optimizer_name", "every", "crash_after"),
    [("sgd", 7, 23), ("sgd", 0, 15), ("adam", 4, 29), ("empirical", 5, 12)],
)
def test_interrupted_run_resumes_bit_identically(digits, tmp_path, optimizer_name, every, crash_after):
    model, optimizer = make_run(optimizer_name)
    reference = run_fit(model, optimizer, digits)

    path = tmp_path / "run.pt"
    crashed, crashed_optimizer = make_run(optimizer_name)
    with pytest.raises(Crash):
        run_fit(crashed, crashed_optimizer, digits, checkpoint=path, checkpoint_every=every,
                loss_fn=crashing_loss(crash_after))
    saved_step = load_checkpoint(path)["step"]
    expected = (crash_after // every) * every if every else (crash_after // 10) * 10
    assert saved_step == expected and 0 < saved_step < crash_after

    # a new process: fresh objects, another generator state, global RNG moved on
    torch.manual_seed(12345)
    resumed, resumed_optimizer = make_run(optimizer_name)
    history = run_fit(resumed, resumed_optimizer, digits, checkpoint=path, checkpoint_every=every,
                      resume=True, generator=torch.Generator().manual_seed(999))
    assert history == reference
    assert [row["step"] for row in history] == [10, 20, 30]
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    state, resumed_state = optimizer.state_dict(), resumed_optimizer.state_dict()
    for key in state["state"]:
        for buffer, value in state["state"][key].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed_state["state"][key][buffer]))
    assert load_checkpoint(path)["step"] == 30


def test_resume_detects_a_changed_run(digits, tmp_path):
    path = tmp_path / "run.pt"
    model, optimizer = make_run()
    run_fit(model, optimizer, digits, epochs=1, checkpoint=path, metadata={"lr": 0.05})
    with pytest.raises(CheckpointError, match=r"other run metadata \(lr: 0.05 -> 0.1\)"):
        run_fit(*make_run(), digits, checkpoint=path, resume=True, metadata={"lr": 0.1})
    x, y = digits
    with pytest.raises(CheckpointError, match="batch_size=64; resuming needs the same value, got 32"):
        fit(*make_run()[:1], x, y, make_run()[1], epochs=2, generator=torch.Generator(), batch_size=32,
            context_fn=noise_context, checkpoint=path, resume=True, progress=False, metadata={"lr": 0.05})
    with pytest.raises(CheckpointError, match="does not exist"):
        run_fit(*make_run(), digits, checkpoint=tmp_path / "none.pt", resume=True)


def test_more_epochs_after_resume_equal_one_longer_run(digits, tmp_path):
    path = tmp_path / "run.pt"
    model, optimizer = make_run(dropout=False)
    run_fit(model, optimizer, digits, epochs=1, checkpoint=path)
    history = run_fit(model, optimizer, digits, epochs=2, checkpoint=path, resume=True)
    straight, straight_optimizer = make_run(dropout=False)
    assert history == run_fit(straight, straight_optimizer, digits, epochs=2)


def test_train_epoch_and_fit_share_the_step_loop(digits):
    """One fit epoch equals train_epoch with the same generator, loss for loss."""
    x, y = digits
    model, optimizer = make_run()
    generator = torch.Generator().manual_seed(7)
    loss = train_epoch(model, x, y, optimizer, noise_context, BATCH, generator)
    other, other_optimizer = make_run()
    (row,) = run_fit(other, other_optimizer, digits, epochs=1)
    assert row == {"epoch": 1, "step": 10, "train_loss": loss}
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)


def test_fit_trains(digits):
    model, optimizer = make_run(dropout=False)
    history = run_fit(model, optimizer, digits, epochs=4)
    losses = [row["train_loss"] for row in history]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.8 * losses[0]


def test_plain_model_without_context(digits):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 10))
    history = fit(model, x, y, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2,
                  generator=torch.Generator().manual_seed(0), progress=False)
    assert len(history) == 2 and history[1]["step"] == 20


# ------------------------------------------------------------------------------ non-finite values
def _poisoned_context(at: int):
    calls = [0]

    def context(x, generator):
        calls[0] += 1
        x, s = noise_context(x, generator)
        if calls[0] == at:
            x = x.clone()
            x[3, 5] = float("nan")
        return x, s

    return context


def _poisoned_loss(at: int, value: float):
    calls = [0]

    def loss(logits, y):
        calls[0] += 1
        out = F.cross_entropy(logits, y)
        return out * value if calls[0] == at else out

    return loss


class _InfiniteGradient(torch.autograd.Function):
    """Zero in value, an infinite gradient for its input: a finite loss with a non-finite gradient."""

    @staticmethod
    def forward(ctx, w):
        ctx.shape = w.shape
        return w.new_zeros(())

    @staticmethod
    def backward(ctx, grad):
        return grad.new_full(ctx.shape, float("inf"))


def _infinite_gradient_loss(weight: torch.Tensor, at: int):
    calls = [0]

    def loss(logits, y):
        calls[0] += 1
        out = F.cross_entropy(logits, y)
        return out + _InfiniteGradient.apply(weight) if calls[0] == at else out

    return loss


@pytest.mark.parametrize(
    ("case", "tensor"),
    [
        ("input", "input batch"),
        ("loss", "loss"),
        ("gradient", "gradient of parameter model.2.layer.weight"),
    ],
)
def test_non_finite_stops_with_step_and_tensor_and_keeps_last_checkpoint(digits, tmp_path, case, tensor):
    path = tmp_path / "run.pt"
    model, optimizer = make_run(dropout=False)
    kwargs = {"context_fn": noise_context}
    if case == "input":
        kwargs["context_fn"] = _poisoned_context(13)
    elif case == "loss":
        kwargs["loss_fn"] = _poisoned_loss(13, float("inf"))
    else:
        kwargs["loss_fn"] = _infinite_gradient_loss(model.model[2].layer.weight, 13)
    x, y = digits
    with pytest.raises(NonFiniteError) as caught:
        fit(model, x, y, optimizer, epochs=2, generator=torch.Generator().manual_seed(7), batch_size=BATCH,
            checkpoint=path, checkpoint_every=5, progress=False, **kwargs)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.step, error.tensor) == (13, tensor)
    message = str(error)
    assert message.startswith(f"step 13: the {tensor}")
    assert "(epoch 2, batch 3)" in message and "keeps the last finite checkpoint (step 10)" in message
    saved = load_checkpoint(path)
    assert saved["step"] == 10  # the last checkpoint written before step 13
    assert all(torch.isfinite(value).all() for value in saved["model"].values())
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad step changed nothing


def test_train_epoch_stops_on_nan_context(digits):
    x, y = digits
    model, optimizer = make_run(dropout=False)

    def nan_context(x, generator):
        return x, torch.full((len(x), 1), float("nan"))

    with pytest.raises(NonFiniteError, match="step 1: the context batch s contains NaN or Inf"):
        train_epoch(model, x, y, optimizer, nan_context, BATCH, torch.Generator())


# ------------------------------------------------------------------------------ divergence, Ctrl-C
def _fit(model, optimizer, data, path, **kwargs):
    x, y = data
    return fit(model, x, y, optimizer, epochs=2, generator=torch.Generator().manual_seed(7), batch_size=BATCH,
               checkpoint=path, checkpoint_every=5, progress=False, context_fn=noise_context, **kwargs)


def test_a_growing_loss_stops_as_divergence_before_the_update(digits, tmp_path):
    """Step 13's loss is 10⁴ × cross-entropy (> 1000 × max(first loss, 1)): stopped there."""
    path = tmp_path / "run.pt"
    model, optimizer = make_run(dropout=False)
    with pytest.raises(DivergenceError) as caught:
        _fit(model, optimizer, digits, path, loss_fn=_poisoned_loss(13, 1e4))
    error = caught.value
    assert isinstance(error, NonFiniteError) and (error.step, error.tensor) == (13, "loss")
    assert error.loss > 1e3 * 2
    message = str(error)
    assert message.startswith("diverged at step 13: loss ") and "> 1000 × max(first loss " in message
    assert message.endswith("keeps the last finite checkpoint (step 10); lower the learning rate")
    assert load_checkpoint(path)["step"] == 10
    # below the bound: the same factor 100 × is allowed with divergence_factor=1e3
    model, optimizer = make_run(dropout=False)
    _fit(model, optimizer, digits, tmp_path / "ok.pt", loss_fn=_poisoned_loss(13, 100.0))
    # and refused with a tighter bound
    model, optimizer = make_run(dropout=False)
    with pytest.raises(DivergenceError, match="> 50 × max"):
        _fit(model, optimizer, digits, tmp_path / "tight.pt", loss_fn=_poisoned_loss(13, 100.0),
             divergence_factor=50)


def test_an_update_to_non_finite_weights_is_never_checkpointed(digits, tmp_path):
    """The learning rate turns infinite at step 13: finite loss and gradients, infinite update.
    The run stops at step 13 and the checkpoint keeps step 10, whose weights are finite."""
    path = tmp_path / "run.pt"
    model, optimizer = make_run(dropout=False)
    calls = [0]

    def loss(logits, y):
        calls[0] += 1
        if calls[0] == 13:
            for group in optimizer.param_groups:
                group["lr"] = float("inf")
        return F.cross_entropy(logits, y)

    with pytest.raises(NonFiniteError) as caught:
        _fit(model, optimizer, digits, path, loss_fn=loss)
    assert caught.value.step == 13 and caught.value.tensor.startswith("parameter ")
    message = str(caught.value)
    assert "contains NaN or Inf (epoch 2, batch 3); training stopped after this step's update" in message
    assert message.endswith("keeps the last finite checkpoint (step 10); lower the learning rate")
    saved = load_checkpoint(path)
    assert saved["step"] == 10 and all(torch.isfinite(v).all() for v in saved["model"].values())


def test_ctrl_c_says_where_the_last_checkpoint_is_and_the_run_resumes(digits, tmp_path):
    path = tmp_path / "run.pt"
    model, optimizer = make_run(dropout=False)
    reference = run_fit(model, optimizer, digits)

    def interrupt_at(call: int):
        calls = [0]

        def loss(logits, y):
            calls[0] += 1
            if calls[0] == call:
                raise KeyboardInterrupt
            return F.cross_entropy(logits, y)

        return loss

    crashed, crashed_optimizer = make_run(dropout=False)
    with pytest.raises(TrainingInterrupted) as caught:
        run_fit(crashed, crashed_optimizer, digits, checkpoint=path, checkpoint_every=4,
                loss_fn=interrupt_at(15))
    error = caught.value
    assert isinstance(error, KeyboardInterrupt)
    assert (error.step, error.checkpoint, error.checkpoint_step) == (14, path, 12)
    assert str(error) == f"interrupted at step 14; last checkpoint {str(path)!r} (step 12)"
    resumed, resumed_optimizer = make_run(dropout=False)
    history = run_fit(resumed, resumed_optimizer, digits, checkpoint=path, checkpoint_every=4, resume=True)
    assert history == reference
    nothing = r"^interrupted at step 2; no checkpoint \(the run writes none\)$"
    with pytest.raises(TrainingInterrupted, match=nothing):
        run_fit(*make_run(dropout=False), digits, loss_fn=interrupt_at(3))


def test_divergence_factor_and_batch_dimension_are_checked(digits):
    model, optimizer = make_run(dropout=False)
    x, y = digits
    for bad in (1, 0.5, float("nan"), "10"):
        with pytest.raises(ValueError, match="divergence_factor must be a number > 1"):
            train_epoch(model, x, y, optimizer, noise_context, divergence_factor=bad)
    with pytest.raises(ValueError, match=r"x and y need a leading batch dimension \(N, ...\)"):
        train_epoch(model, torch.tensor(1.0), torch.tensor(1), optimizer, noise_context)
