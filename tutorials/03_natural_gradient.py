# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Natural-gradient steps on a weight manifold
#
# A weight manifold $W(s) = \sum_k \phi_k(s)\, P_k$ is trained through its control points $P_k$.
# A plain gradient step moves each control point by its own gradient. But the control points are
# only coordinates: what matters is how far the *family of networks* $W(s)$ moves. The
# volume-constrained step (Benjamin et al. 2025) bounds $\int \lVert \Delta W(s) \rVert^2 ds$
# instead, which turns the step into a natural-gradient step: mix the $K$ control-point gradients
# of every weight with the inverse of the basis Gram matrix $G = \int \phi\, \phi^\top ds$.
#
# This tutorial shows the difference on one step, then trains the same circle of networks on
# rotated digits with plain SGD, the natural-gradient SGD and Adam of geomanifold, and geoopt's
# Riemannian optimizers on the control-point manifold. `GEOMANIFOLD_TUTORIAL_SMALL=1` trains
# for fewer epochs.

# %%
import copy
import os

import geoopt
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import geomanifold as gm
from geomanifold.data import load_digits8x8, rotate
from geomanifold.training import apply_context, evaluate, train_epoch

SMALL = os.environ.get("GEOMANIFOLD_TUTORIAL_SMALL", "0") == "1"
EPOCHS = 6 if SMALL else 30
torch.set_num_threads(1)
torch.manual_seed(0)
data = load_digits8x8(seed=0)
print(data)

# %% [markdown]
# ## One step, two ways
#
# Take a line of linear classifiers $W(s) = (1 - s)\, P_1 + s\, P_2$ on the 8×8 digits and a
# gradient $g$ that comes only from the network at $s = 0$ (a batch evaluated at that end). Plain
# SGD changes $P_1$ alone, so the line pivots about its other end. The natural-gradient step mixes
# the two gradients with $G^{-1} = \begin{pmatrix} 4 & -2 \\ -2 & 4 \end{pmatrix}$:
# $\Delta P_1 = -4\eta g$, $\Delta P_2 = +2\eta g$. The line pivots about $s = 2/3$. Of all steps
# that move the family by the same $\int \lVert \Delta W(s) \rVert^2 ds$, it is the one that
# decreases the loss most (to first order by a factor $2/\sqrt{3}$ more than the plain step here).

# %%
x, y = data.x_train[:256], data.y_train[:256]
line = gm.WeightManifold(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), gm.Line(), init="independent",
                         generator=torch.Generator().manual_seed(0))
s_grid = torch.linspace(0, 1, 101)[:, None]


def weights_along(model):
    """All weights of ``W(s)`` at every ``s`` of ``s_grid``, flattened: ``(101, D)``."""
    return torch.stack([torch.cat([w.flatten() for w in model.parameters_at(s).values()]) for s in s_grid])


def step_movement(optimizer_class, lr):
    """Take one step on the loss at s = 0; return ``ΔW(s)`` flattened ``(101, D)`` and the loss change."""
    model = copy.deepcopy(line)
    before = weights_along(model)
    loss0 = F.cross_entropy(model(x, torch.zeros(1)), y)
    loss0.backward()
    optimizer_class(model.param_groups(), lr=lr).step()
    with torch.no_grad():
        after = weights_along(model)
        loss1 = F.cross_entropy(model(x, torch.zeros(1)), y)
    return (after - before).detach(), (loss1 - loss0).item()


lr = 0.005  # small, so that the first-order picture holds
plain, plain_drop = step_movement(torch.optim.SGD, lr)
natural, natural_drop = step_movement(gm.NaturalGradientSGD, lr)
for name, delta, drop in (("plain SGD", plain, plain_drop), ("natural gradient", natural, natural_drop)):
    movement = delta.pow(2).sum(1).mean()  # ∫ ||ΔW(s)||² ds on the grid
    print(f"{name:>16}: loss change at s=0 {drop:+.5f}   ∫||ΔW||² ds {movement:.2e}"
          f"   decrease per RMS movement {-drop / movement.sqrt():.3f}")

# %%
# ΔW(s) is the same direction g at every s, scaled: its signed size along ΔW(0)
direction = plain[0] / plain[0].norm()
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
ax = axes[0]
ax.plot(s_grid, plain @ direction, lw=2.5, label="plain SGD: only P₁ moves")
ax.plot(s_grid, natural @ direction, lw=2.5, label="natural gradient: G⁻¹ mixing")
ax.axhline(0, color="k", lw=0.6)
ax.axvline(2 / 3, color="0.5", lw=0.8, ls="--")
ax.annotate("pivot s = 2/3", (2 / 3, 0), xytext=(0.7, 0.3 * float(natural[0] @ direction)), color="0.3")
ax.set_xlabel("context s")
ax.set_ylabel("ΔW(s) along −g")
ax.set_title("how each point of the line moves")
ax.legend(frameon=False)
ax = axes[1]
names = ["plain SGD", "natural gradient"]
ratio = [-plain_drop / plain.pow(2).sum(1).mean().sqrt(), -natural_drop / natural.pow(2).sum(1).mean().sqrt()]
ax.bar(names, ratio, color=["C0", "C1"])
ax.set_ylabel("loss decrease / sqrt(∫||ΔW(s)||² ds)")
ax.set_title(f"decrease per movement of the family: ratio {ratio[1] / ratio[0]:.3f} (2/√3 = 1.155)")
plt.show()

# %% [markdown]
# ## Training a circle of networks on rotated digits
#
# Each training example gets a random angle $2\pi s$, its image is rotated by it, and the network
# is $W(s)$ on the circle `Fourier(1)`: $\phi(s) = (1, \cos 2\pi s, \sin 2\pi s)$,
# $G = \operatorname{diag}(1, \tfrac12, \tfrac12)$. We
# train the same initial manifold five ways with the same learning rate:
#
# * `torch.optim.SGD` on the control points (no mixing),
# * `gm.NaturalGradientSGD` (control-point gradients mixed by $G^{-1}$),
# * `geoopt.optim.RiemannianSGD` on the control points turned into `geoopt.ManifoldParameter`s
#   of a `ControlPointManifold` (the same step, through geoopt),
# * `gm.NaturalGradientAdam` and `geoopt.optim.RiemannianAdam` (Adam whose second moment is
#   taken in the $G$-norm, so the mixing survives).


# %%
def rotated(x, generator):
    """Context function: one random angle 2πs per example, image rotated by it."""
    s = torch.rand(len(x), 1, generator=generator)
    return rotate(x, s), s


net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
initial = gm.WeightManifold(net, gm.Fourier(1), init="independent",
                            generator=torch.Generator().manual_seed(1))
x_test, s_test = apply_context(data.x_test, rotated, torch.Generator().manual_seed(2))


def make(kind, lr):
    model = copy.deepcopy(initial)
    if kind == "SGD (plain)":
        return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if kind == "NaturalGradientSGD":
        return model, gm.NaturalGradientSGD(model.param_groups(), lr=lr, momentum=0.9)
    if kind == "geoopt RiemannianSGD":
        groups = gm.to_manifold_parameters(model, model.param_groups())
        return model, geoopt.optim.RiemannianSGD(groups, lr=lr, momentum=0.9)
    if kind == "NaturalGradientAdam":
        return model, gm.NaturalGradientAdam(model.param_groups(), lr=lr)
    groups = gm.to_manifold_parameters(model, model.param_groups())
    return model, geoopt.optim.RiemannianAdam(groups, lr=lr)


runs = {}
for kind, lr in (("SGD (plain)", 0.05), ("NaturalGradientSGD", 0.05), ("geoopt RiemannianSGD", 0.05),
                 ("NaturalGradientAdam", 1e-2), ("geoopt RiemannianAdam", 1e-2)):
    model, optimizer = make(kind, lr)
    generator = torch.Generator().manual_seed(3)  # the same batches and angles for every run
    history = []
    for _ in range(EPOCHS):
        train_epoch(model, data.x_train, data.y_train, optimizer, rotated, batch_size=64, generator=generator)
        history.append(evaluate(model, x_test, data.y_test, s_test))
    runs[kind] = (model, history)
    print(f"{kind:>22}: test accuracy {history[-1]['accuracy']:.3f}   loss {history[-1]['loss']:.3f}")

# %% [markdown]
# geoopt's optimizers on the control-point manifold take the same steps as the native ones:
# `RiemannianAdam` to rounding error. geoopt's `RiemannianSGD` with momentum starts its momentum
# buffer from the first gradient instead of zero, so its first step differs by one momentum term;
# after that the two runs drift apart the way any two SGD runs from slightly different points do,
# and end at the same accuracy (without momentum, or with the buffer seeded at zero, they agree).

# %%
def max_difference(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


print("NaturalGradientAdam vs geoopt RiemannianAdam:",
      max_difference(runs["NaturalGradientAdam"][0], runs["geoopt RiemannianAdam"][0]))
print("NaturalGradientSGD vs geoopt RiemannianSGD:",
      max_difference(runs["NaturalGradientSGD"][0], runs["geoopt RiemannianSGD"][0]))

# %%
styles = {"SGD (plain)": ("C0", "-"), "NaturalGradientSGD": ("C1", "-"), "geoopt RiemannianSGD": ("C1", ":"),
          "NaturalGradientAdam": ("C2", "-"), "geoopt RiemannianAdam": ("C2", ":")}
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
epochs = np.arange(1, EPOCHS + 1)
for kind, (_, history) in runs.items():
    color, ls = styles[kind]
    width = 3 if ls == "-" else 2
    axes[0].plot(epochs, [h["loss"] for h in history], color=color, ls=ls, lw=width, label=kind)
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("test loss (rotated digits)")
axes[0].set_yscale("log")
axes[0].legend(frameon=False)
axes[0].set_title("training the circle of networks")

# accuracy as a function of the angle: one W(s) per test context bin
bins = 8
edges = torch.linspace(0, 1, bins + 1)
centres = (edges[1:] + edges[:-1]) / 2
for kind in ("SGD (plain)", "NaturalGradientSGD", "NaturalGradientAdam"):
    model = runs[kind][0]
    model.eval()
    with torch.no_grad():
        correct = (model(x_test, s_test).argmax(-1) == data.y_test).float()
    which = torch.bucketize(s_test[:, 0], edges[1:-1])
    per_bin = torch.stack([correct[which == b].mean() for b in range(bins)])
    axes[1].plot(360 * centres, per_bin, "o-", color=styles[kind][0], label=kind)
axes[1].set_xlabel("rotation angle (degrees)")
axes[1].set_ylabel("test accuracy")
axes[1].set_ylim(0, 1)
axes[1].set_xticks(range(0, 361, 60))
axes[1].set_title("accuracy around the circle")
axes[1].legend(frameon=False)
plt.show()

# %% [markdown]
# ## Where the circle went
#
# The trained control points define a closed curve in weight space. Its geometry is that of a
# `LinearBasisManifold` with the same basis, computed from the $3 \times 3$ Gram matrix of the control
# points: the speed $\lVert dW/ds \rVert$ says where along the circle the networks change fastest.

# %%
s_fine = torch.linspace(0, 1, 200, dtype=torch.float64)[:, None]
fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
for kind in ("SGD (plain)", "NaturalGradientSGD", "NaturalGradientAdam"):
    points = [p.detach().double() for p in runs[kind][0].control_points()]
    curve = gm.LinearBasisManifold(gm.Fourier(1), points)
    with torch.no_grad():
        speed, length = curve.volume_element(s_fine), curve.volume(128).item()
    ax.plot(360 * s_fine[:, 0], speed, color=styles[kind][0], lw=2, label=f"{kind}: length {length:.1f}")
ax.set_xlabel("rotation angle (degrees)")
ax.set_ylabel("|dW/ds|")
ax.set_xticks(range(0, 361, 60))
ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
ax.set_title("speed of the trained circle in weight space")
plt.show()
