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
# # 4. Geodesics between trained networks
#
# Two networks trained from different seeds solve the same task with very different weights. How
# do they connect? We compare three paths from one to the other,
#
# * the **straight line** in weight space,
# * a quadratic **Bézier curve** trained on the mean loss along it (the mode-connectivity recipe),
# * a **geodesic** under the task metric: the path along which the network's outputs change least
#   (a cubic B-spline with 10 control points whose discrete energy
#   $n \sum_i 2\, \mathrm{KL}\big(f(x; w_i) \,\Vert\, f(x; w_{i+1})\big)$ is minimised),
#
# measuring the loss, the speed in function space and in weight space, and the curvature along
# each. Then we walk a **functionally invariant path** from one network toward a sparse one.
# Data: scikit-learn's 8×8 digits. `GEOMANIFOLD_TUTORIAL_SMALL=1` uses fewer optimisation steps.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from geomanifold.data import load_digits8x8
from geomanifold.training import evaluate, train_epoch
from geomanifold.weightspace import (
    align_hidden_units,
    bezier,
    bspline_path,
    evaluate_path,
    parameter_vector,
    solve_geodesic,
    straight_line,
    train_curve_on_loss,
)
from geomanifold.weightspace.finetune import evaluate_weights
from geomanifold.weightspace.sparsify import magnitude_mask, prune, sparsify_along_path

SMALL = os.environ.get("GEOMANIFOLD_TUTORIAL_SMALL", "0") == "1"
EPOCHS = 15 if SMALL else 40
GEODESIC_STEPS = 150 if SMALL else 600
torch.set_num_threads(1)
data = load_digits8x8(seed=0)
x_train, y_train = data.train
x_test, y_test = data.test


def trained_mlp(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        train_epoch(net, x_train, y_train, optimizer, batch_size=64, generator=generator)
    return net.eval()


net_a, net_b = trained_mlp(1), trained_mlp(2)
for name, net in (("A", net_a), ("B", net_b)):
    print(f"network {name}: test accuracy {evaluate(net, x_test, y_test)['accuracy']:.3f}")

# %% [markdown]
# Hidden units can be permuted without changing the function, so two networks are only comparable
# after their units are matched: `align_hidden_units` permutes B's units to best match A's
# weights. The aligned B computes exactly the same function.

# %%
aligned_b = align_hidden_units(net_a, net_b, x_train)
a, b_raw, b = (parameter_vector(n) for n in (net_a, net_b, aligned_b))
print(f"|A − B| = {(a - b_raw).norm():.2f}   after alignment |A − B| = {(a - b).norm():.2f}")
print("aligned B, same outputs:", torch.allclose(net_b(x_test), aligned_b(x_test), atol=1e-5))

# %%
paths = {"straight (unaligned)": straight_line(a, b_raw), "straight": straight_line(a, b)}
curve = bezier(a, b, 2)
train_curve_on_loss(net_a, curve, x_train, y_train, epochs=EPOCHS, lr=3e-3,
                    generator=torch.Generator().manual_seed(0), progress=False)
paths["Bézier (trained on loss)"] = curve
geodesic = solve_geodesic(net_a, bspline_path(a, b, 10), x_train, kind="kl", steps=GEODESIC_STEPS, lr=1e-2,
                          generator=torch.Generator().manual_seed(0), progress=False)
paths["geodesic (task metric)"] = geodesic.path
energies = geodesic.history[0]["energy"], geodesic.history[-1]["energy"]
print(f"geodesic energy: {energies[0]:.2f} (first step) → {energies[1]:.2f}")

measured = {
    name: evaluate_path(net_a, path, {"test": (x_test, y_test)}, metric_x=x_test, points=41, progress=False)
    for name, path in paths.items()
}
for name, m in measured.items():
    print(f"{name:>26}: barrier {m['test_barrier_max_mean']:6.3f}"
          f"   function length {m['function_length']:6.2f}   euclidean length {m['euclidean_length']:6.2f}")

# %%
colors = {"straight (unaligned)": "0.6", "straight": "C0", "Bézier (trained on loss)": "C2",
          "geodesic (task metric)": "C3"}
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), layout="constrained")
for name, m in measured.items():
    t = np.array(m["t"])
    middle = (t[1:] + t[:-1]) / 2
    axes[0].plot(t, m["test_loss"], color=colors[name], lw=2, label=name)
    axes[1].plot(middle, m["function_speed"], color=colors[name], lw=2)
    axes[2].plot(t, m["euclidean_speed"], color=colors[name], lw=2)
    axes[3].plot(t, m["curvature"], color=colors[name], lw=2)
axes[0].set_ylabel("test loss")
axes[0].set_yscale("log")
axes[0].legend(frameon=False, fontsize=8)
axes[1].set_ylabel("speed in function space sqrt(2·KL) per unit t")
axes[2].set_ylabel("speed in weight space |γ'(t)|")
axes[3].set_ylabel("curvature κ in weight space")
axes[3].set_yscale("symlog", linthresh=1e-3)
titles = ("loss along the path", "how fast the function changes", "how fast the weights change",
          "how sharply the path turns")
for ax, title in zip(axes, titles, strict=True):
    ax.set_xlabel("t")
    ax.set_title(title)
plt.show()

# %% [markdown]
# The straight line between unaligned networks climbs a high loss barrier; aligning the units
# lowers it. The Bézier curve, trained on the loss, goes around the barrier. The geodesic
# minimises the change of the *function*: its speed in function space is nearly constant (it moves
# the outputs evenly) and its function-space length is the shortest of all, bought with a longer,
# curved path in weight space: it trades distance in weights for distance in outputs.
#
# ## Sparsifying along a functionally invariant path
#
# Pruning the 80% smallest weights of network A at once costs it accuracy. A
# functionally invariant path instead walks from A toward the pruned hyperplane in small steps
# that keep the outputs on the training inputs close to A's (`sparsify_along_path`, penalty rule:
# each step follows the gradient of the distance to the hyperplane plus the output divergence),
# and prunes at the end.

# %%
sparsity = 0.8
mask = magnitude_mask(net_a, a, sparsity)
distance = (a - prune(a, mask)).norm().item()
steps = 60 if SMALL else 300
pruned, _, records = sparsify_along_path(
    net_a, x_train, sparsity, steps=steps, step_length=6 * distance / steps, record_every=max(steps // 20, 1),
    evaluate=lambda w: evaluate_weights(net_a, prune(w, mask), x_test, y_test), progress=False,
)
direct = evaluate_weights(net_a, prune(a, mask), x_test, y_test)
along = evaluate_weights(net_a, pruned, x_test, y_test)
print(f"dense A: {evaluate_weights(net_a, a, x_test, y_test)['accuracy']:.3f}   pruned at once: "
      f"{direct['accuracy']:.3f}   pruned after the FIP walk: {along['accuracy']:.3f}")

# %%
step = [r["step"] for r in records]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
axes[0].plot(step, [r["accuracy"] for r in records], "o-", color="C3", label="walk, pruned at that step")
axes[0].axhline(direct["accuracy"], color="0.5", ls="--", label="pruned at once")
axes[0].set_ylabel(f"test accuracy at {sparsity:.0%} sparsity")
axes[0].set_ylim(0, 1)
axes[0].legend(frameon=False)
axes[1].plot(step[1:], [r["divergence"] for r in records[1:]], "o-", color="C0",
             label="output divergence to A")
axes[1].plot(step, [r["secondary"] for r in records], "s-", color="C2",
             label="objective: distance to the hyperplane")
axes[1].set_yscale("log")
axes[1].legend(frameon=False)
for ax in axes:
    ax.set_xlabel("FIP step")
plt.show()
