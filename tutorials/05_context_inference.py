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
# # 5. Inferring the context of an unlabeled batch
#
# A network conditioned on a weight manifold needs its context $s$ at test time. When a batch
# arrives from one unknown context (all images rotated by the same unknown angle, say) the
# manifold itself can tell: the network $W(s)$ is confident where $s$ matches the data. The
# estimate $\hat s$ is the context of least mean prediction entropy,
#
# $$
# \hat s = \arg\min_s H(s), \qquad H(s) = -\frac{1}{N} \sum_i \sum_c p_c(x_i; s) \log p_c(x_i; s),
# $$
#
# found by `geomanifold.conditioning.inference.infer_context` with a grid search over the chart and
# a golden-section refinement. No labels are used. `GEOMANIFOLD_TUTORIAL_SMALL=1` trains for fewer
# epochs.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import geomanifold as gm
from geomanifold.conditioning.inference import infer_context, mean_prediction_entropy
from geomanifold.data import load_mnist5k, rotate
from geomanifold.training import train_epoch

SMALL = os.environ.get("GEOMANIFOLD_TUTORIAL_SMALL", "0") == "1"
EPOCHS = 3 if SMALL else 12
torch.set_num_threads(1)
torch.manual_seed(0)
data = load_mnist5k(seed=0)

net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
wm = gm.WeightManifold(net, gm.Fourier(1), init="independent", generator=torch.Generator().manual_seed(1))
optimizer = gm.NaturalGradientSGD(wm.param_groups(), lr=0.05, momentum=0.9)
generator = torch.Generator().manual_seed(1)


def rotated(x, g):
    """Context function: one random angle 2πs per example, image rotated by it."""
    s = torch.rand(len(x), 1, generator=g)
    return rotate(x, s), s


for epoch in range(EPOCHS):
    loss = train_epoch(wm, *data.train, optimizer, rotated, batch_size=64, generator=generator)
    print(f"epoch {epoch + 1}: training loss {loss:.3f}")
wm.eval()

# %% [markdown]
# ## The entropy landscape of one batch
#
# Take 32 test images, rotate all of them by the same angle, and evaluate $H(s)$ around the whole
# circle. The deepest minimum sits near the true angle; angles at which some rotated digits look
# like other upright digits (a 6 and a 9, a 0 or a 1 after half a turn) leave shallower dips.

# %%
batch_size = 32
g = torch.Generator().manual_seed(2)
true_s = torch.tensor([0.1, 0.35, 0.6, 0.85])
pick = torch.randperm(len(data.x_test), generator=g)[: batch_size * len(true_s)].reshape(-1, batch_size)
# one batch per angle: (4, 32, 1, 28, 28)
batches = torch.stack([rotate(data.x_test[i], s) for i, s in zip(pick, true_s, strict=True)])
candidates = torch.linspace(0, 1, 181)[:-1]
entropy = mean_prediction_entropy(wm, batches, candidates[None, :, None].expand(len(true_s), -1, 1))
estimate = infer_context(wm, batches)

fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
for k, (s, curve, s_hat) in enumerate(zip(true_s, entropy, estimate.s[:, 0], strict=True)):
    ax.plot(360 * candidates, curve, color=f"C{k}", lw=2)
    ax.axvline(360 * s, color=f"C{k}", lw=1, ls=":")
    ax.plot(360 * s_hat, estimate.objective[k], "v", color=f"C{k}", ms=10, mec="k")
ax.set_xlabel("candidate angle 2πs (degrees)")
ax.set_ylabel("mean prediction entropy H(s) (nats)")
ax.set_xticks(range(0, 361, 45))
ax.set_title("four unlabeled batches: H(s) (lines), true angle (dotted), estimate ŝ (triangles)")
plt.show()

# %% [markdown]
# ## How well, with how many images?
#
# Many batches at once (`infer_context` takes `N` batches and returns `N` estimates), each from
# its own random angle, for several batch sizes. The error is the circular distance between
# $\hat s$ and the true $s$, in degrees.

# %%
trials = 40 if SMALL else 200
sizes = [1, 4, 16, 64]
errors = {}
for size in sizes:
    s = torch.rand(trials, generator=g)
    index = torch.randint(len(data.x_test), (trials, size), generator=g)
    x = torch.stack([rotate(data.x_test[i], t) for i, t in zip(index, s, strict=True)])
    s_hat = infer_context(wm, x).s[:, 0]
    difference = (s_hat - s + 0.5) % 1.0 - 0.5
    errors[size] = 360 * difference.abs()
    print(f"batch of {size:>2}: median error {errors[size].median():6.1f}°, "
          f"within 20°: {(errors[size] < 20).float().mean():.2f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
ax = axes[0]
ax.boxplot([errors[n].numpy() for n in sizes], tick_labels=[str(n) for n in sizes], showfliers=True)
ax.set_yscale("log")
ax.set_xlabel("images in the unlabeled batch")
ax.set_ylabel("|ŝ − s| (degrees, circular)")
ax.set_title("error of the inferred angle")
ax = axes[1]
for n in sizes:
    ax.hist(errors[n].numpy(), bins=np.linspace(0, 180, 37), histtype="step", lw=2, label=f"{n} images")
ax.set_xlabel("|ŝ − s| (degrees)")
ax.set_ylabel("batches")
ax.set_title("distribution of the errors")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# ## Classifying with the inferred context
#
# The point of inferring $s$ is to use it: classify each batch with $W(\hat s)$ and compare with the
# true context (an oracle) and with a fixed guess $s = 0$.

# %%
size = 16
s = torch.rand(trials, generator=g)
index = torch.randint(len(data.x_test), (trials, size), generator=g)
x = torch.stack([rotate(data.x_test[i], t) for i, t in zip(index, s, strict=True)])
y = data.y_test[index]
s_hat = infer_context(wm, x).s.float()  # the estimate comes in float64; the model is float32
with torch.no_grad():
    results = {
        "true context s": torch.stack([wm(xb, sb[None]) for xb, sb in zip(x, s, strict=True)]),
        "inferred ŝ": torch.stack([wm(xb, sb) for xb, sb in zip(x, s_hat, strict=True)]),
        "fixed s = 0": torch.stack([wm(xb, torch.zeros(1)) for xb in x]),
    }
accuracy = {name: (logits.argmax(-1) == y).float().mean().item() for name, logits in results.items()}
for name, value in accuracy.items():
    print(f"{name:>15}: accuracy {value:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.barh(list(accuracy), list(accuracy.values()), color=["0.4", "C1", "C0"])
ax.set_xlim(0, 1)
ax.set_xlabel(f"test accuracy (batches of {size} images, one unknown angle each)")
plt.show()
