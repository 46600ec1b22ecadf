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
# # 1. Curvature of surfaces you know
#
# Before measuring the geometry of a manifold of networks, we check the machinery on surfaces whose
# geometry is known in closed form: the sphere, the torus of revolution in R³ and the flat torus in
# R⁴. Each is nothing but a map `phi(s)` from chart coordinates into space; every quantity below
# (tangent planes, metric, volume, Gaussian curvature, geodesics, parallel transport) is derived
# from `phi` by forward-mode autodiff, exactly as it will be for a network's weights.
#
# Set `GEOMANIFOLD_TUTORIAL_SMALL=1` for coarser grids (that is how the documentation build runs
# it).

# %%
import math
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.path import Path as PolygonPath
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

import geomanifold as gm
from geomanifold import plotting

SMALL = os.environ.get("GEOMANIFOLD_TUTORIAL_SMALL", "0") == "1"
GRID = 60 if SMALL else 160  # chart grid per coordinate for the heat maps
TOL = 1e-8 if SMALL else 1e-10  # tolerance of the adaptive integrator in exp, log and parallel transport
torch.set_num_threads(1)
torch.set_printoptions(precision=6, sci_mode=False)
TWO_PI = 2 * math.pi
PI_TICKS = (np.arange(5) * math.pi / 2, ["0", "π/2", "π", "3π/2", "2π"])


def chart_grid(low, high, n):
    """Cell centres of an ``n × n`` grid over a box: 1-D centres and points ``(n, n, 2)``."""
    u = low[0] + (np.arange(n) + 0.5) * (high[0] - low[0]) / n
    v = low[1] + (np.arange(n) + 0.5) * (high[1] - low[1]) / n
    return u, v, torch.as_tensor(np.stack(np.meshgrid(u, v, indexing="ij"), -1))


# %% [markdown]
# ## Tangent planes, metric and volume on the sphere
#
# The sphere of radius $r$ in its polar chart $s = (\theta, \phi)$:
# $\varphi(\theta, \phi) = r\,(\sin\theta \cos\phi,\ \sin\theta \sin\phi,\ \cos\theta)$ (`phi` in the
# code). The tangent vectors $\partial_\theta \varphi$ and $\partial_\phi \varphi$ span the tangent plane
# at $\varphi(s)$; their inner products are the induced metric
# $g = \operatorname{diag}(r^2,\ r^2 \sin^2\theta)$, and $\sqrt{\det g} = r^2 \sin\theta$ is the factor by
# which a small chart rectangle is stretched onto the sphere (do Carmo, §2-5).

# %%
sphere = gm.Sphere(radius=2.0)
s = torch.tensor([[math.pi / 3, 0.4], [math.pi / 2, 2.0]], dtype=torch.float64)
print("tangent basis (D × m per point):", tuple(sphere.tangent_basis(s).shape))
print("metric g:\n", sphere.metric(s))
closed = torch.stack([torch.full((2,), 4.0), 4 * torch.sin(s[:, 0]) ** 2], -1)
print("closed form diag(r², r² sin² θ):\n", closed)
print("area by quadrature over the chart:", sphere.volume(64).item(), "   4πr² =", 4 * math.pi * 2.0**2)

# %% [markdown]
# Drawing the tangent plane at a few points shows what the metric measures: the tangent vectors
# grow and shrink with position ($\partial_\phi \varphi$ vanishes at the poles, where the polar chart
# is singular).

# %%
fig = plt.figure(figsize=(6.5, 6))
ax = fig.add_subplot(projection="3d", computed_zorder=False)
ax.set_proj_type("ortho")
theta, phi_ = np.meshgrid(np.linspace(0, math.pi, 40), np.linspace(0, TWO_PI, 80), indexing="ij")
mesh = sphere.phi(torch.as_tensor(np.stack([theta, phi_], -1))).numpy()
ax.plot_surface(*mesh.transpose(2, 0, 1), color="#dfe6f0", alpha=0.55, linewidth=0, shade=True)
points = torch.tensor([[0.35, -0.9], [math.pi / 2, -0.7], [1.1, 0.2], [2.2, -0.3]], dtype=torch.float64)
for p, frame in zip(sphere.phi(points).numpy(), sphere.tangent_basis(points).numpy(), strict=True):
    a, b = 0.45 * frame[:, 0], 0.45 * frame[:, 1]
    corners = np.array([p + a + b, p + a - b, p - a - b, p - a + b, p + a + b])
    ax.plot(*corners.T, color="#555555", lw=1)
    ax.add_collection3d(Poly3DCollection([corners[:4]], facecolor="#ffd400", alpha=0.35))
    ax.quiver(*p, *frame[:, 0] * 0.6, color="#d62728", lw=2, arrow_length_ratio=0.15)
    ax.quiver(*p, *frame[:, 1] * 0.6, color="#1f77b4", lw=2, arrow_length_ratio=0.15)
ax.view_init(elev=20, azim=-35)
ax.set_box_aspect((1, 1, 1), zoom=1.35)
ax.set_axis_off()
ax.set_title("Tangent planes of the sphere: ∂θ phi (red) and ∂φ phi (blue), scaled by 0.6")
plt.show()

# %% [markdown]
# ## Gaussian curvature: torus against its closed form
#
# The torus of revolution with radii $R > r$,
# $\varphi(u, v) = \big((R + r\cos v) \cos u,\ (R + r\cos v) \sin u,\ r \sin v\big)$, has
# $K = \cos v \,/\, \big(r\,(R + r \cos v)\big)$ (do Carmo, §3-3): positive on the outer half (it
# curves like a sphere there), negative on the inner half (saddle-shaped), zero on the top and
# bottom circles. geomanifold never sees this formula: it computes $K$ from the second derivatives
# of $\varphi$ through Gauss's equation.

# %%
torus = gm.Torus(R=2.0, r=1.0)
u, v, grid = chart_grid((0.0, 0.0), (TWO_PI, TWO_PI), GRID)
K = torus.gaussian_curvature(grid).numpy()
vv = grid[..., 1].numpy()
K_closed = np.cos(vv) / (1.0 * (2.0 + np.cos(vv)))
print(f"largest |K - closed form| over {GRID}² chart points: {np.abs(K - K_closed).max():.1e}")
print("area:", torus.volume(64).item(), "   4π²Rr =", 4 * math.pi**2 * 2.0)

# %%
norm = plotting.diverging_norm(K)
fig = plt.figure(figsize=(13, 5), layout="constrained")
ax = fig.add_subplot(1, 2, 1)
plotting.plot_chart_field(ax, u, v, K, norm=norm, label="Gaussian curvature K",
                          xlabel="u (around the axis)", ylabel="v (around the tube)")
ax.contour(u, v, K.T, levels=[0.0], colors="k", linewidths=0.8, linestyles="--")
ax.set_xticks(*PI_TICKS)
ax.set_yticks(*PI_TICKS)
ax.set_title("K over the chart (dashed: K = 0)")

ax3 = fig.add_subplot(1, 2, 2, projection="3d")
ax3.set_proj_type("ortho")
su, sv = np.linspace(0, TWO_PI, 97), np.linspace(0, TWO_PI, 61)
mesh = torch.as_tensor(np.stack(np.meshgrid(su, sv, indexing="ij"), -1))
cells = (mesh[1:, 1:] + mesh[:-1, :-1]) / 2
plotting.plot_surface_field(ax3, torus.phi(mesh).numpy(), torus.gaussian_curvature(cells).numpy(), norm=norm)
ax3.set_box_aspect((1, 1, 1 / 3), zoom=1.3)
ax3.view_init(elev=35, azim=-60)
ax3.set_axis_off()
ax3.set_title("the same K on the torus in R³: red outside, blue inside")
plt.show()

# %% [markdown]
# Along one meridian (fixed `u`) the computed curvature lies on the closed form to rounding error:

# %%
vs = torch.linspace(0, TWO_PI, 25, dtype=torch.float64)
meridian = torch.stack([torch.zeros_like(vs), vs], -1)
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
fine = np.linspace(0, TWO_PI, 400)
ax.plot(fine, np.cos(fine) / (2 + np.cos(fine)), color="0.6", lw=3,
        label="closed form cos v / (r (R + r cos v))")
ax.plot(vs, torus.gaussian_curvature(meridian), "o", color="#d62728", ms=5,
        label="geomanifold (forward-mode jets)")
ax.axhline(0, color="k", lw=0.6)
ax.set_xticks(*PI_TICKS)
ax.set_xlabel("v")
ax.set_ylabel("K")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# ## Curved in space, flat inside: the flat torus
#
# The Clifford torus $(\cos a, \sin a, \cos b, \sin b)$ in $\mathbb{R}^4$ bends in every direction
# (its second fundamental form is not zero, and the mean-curvature vector has length $1/\sqrt{2}$), yet its
# metric is the identity and its Gaussian curvature vanishes: an ant on it could not tell it from a
# flat sheet. Curvature in the sense of Gauss is *intrinsic*: it depends on the metric only, not on
# how the surface sits in space. The same distinction separates how a weight manifold bends through
# weight space from how it is curved.

# %%
flat = gm.FlatTorus()
pts = torch.rand(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * TWO_PI
print("metric at a point:\n", flat.metric(pts[0]))
print("|K| at 5 random points:", flat.gaussian_curvature(pts).abs().max().item())
print("|II| (extrinsic bending):", flat.second_fundamental_form(pts).flatten(1).norm(dim=1))
print("|H| =", flat.mean_curvature_vector(pts).norm(dim=-1), "  1/√2 =", 1 / math.sqrt(2))

# %% [markdown]
# ## Geodesics on the torus: the exponential map
#
# A geodesic solves $\ddot s^k + \Gamma^k_{ij}\, \dot s^i \dot s^j = 0$ (do Carmo, §4-4; Lee, ch. 4).
# `exp(s, v)` integrates it for unit time from
# `s` with initial velocity `v`; `geodesic(s, v, times)` returns the whole path. Here twelve
# unit-speed geodesics leave one point on the outer half in evenly spread directions (unit speed
# in the metric, so the chart velocities differ). All but the meridian (straight up in the chart)
# turn back before they reach the inner equator: they are trapped in a band about the outer
# equator and oscillate about it, as Clairaut's relation for surfaces of revolution predicts
# (the distance to the axis times the sine of the angle with the meridian is constant along a
# geodesic). The meridian itself goes straight around the tube.

# %%
start = torch.tensor([math.pi, 0.6], dtype=torch.float64)
count, length = 12, 6.0
angles = torch.arange(count, dtype=torch.float64) * TWO_PI / count
g0 = torus.metric(start)
velocity = length * torch.stack([angles.cos() / g0[0, 0].sqrt(), angles.sin() / g0[1, 1].sqrt()], -1)
paths = torus.geodesic(start, velocity, times=41 if SMALL else 121).transpose(0, 1).numpy()  # (count, T, 2)
speeds = torch.einsum("ci,ij,cj->c", velocity, g0, velocity).sqrt()
print("initial speeds |v|_g:", speeds.numpy().round(6))
ends = torus.exp(start, velocity)
last = torus.chart.wrap(torch.as_tensor(paths[:, -1]))
print("exp(s, v) equals the last point of geodesic():", torch.allclose(last, ends))

# %%
colors = plt.get_cmap("tab20")(np.arange(count) % 20)  # distinct colours, white-outlined on the map
fig, ax = plt.subplots(figsize=(6.8, 5.5), layout="constrained")
plotting.plot_chart_field(ax, u, v, K, norm=norm, label="K", xlabel="u", ylabel="v")
plotting.plot_chart_paths(ax, list(paths), [TWO_PI, TWO_PI], list(colors), start=start.numpy())
ax.set_xticks(*PI_TICKS)
ax.set_yticks(*PI_TICKS)
ax.set_xlim(0, TWO_PI)
ax.set_ylim(0, TWO_PI)
ax.set_title(f"{count} unit-speed geodesics of length {length:g} from one point, over K")
plt.show()

# %% [markdown]
# ## Shortest paths: the logarithm
#
# `log(s0, s1)` is the inverse problem: the initial velocity of the shortest geodesic from `s0`
# to `s1`. It shoots from every wrap-around of the periodic coordinates and keeps the shortest
# converged geodesic, so the path may leave the chart square and come back on the other side.
# The straight chart line is *not* a shortest path: its length, measured with the metric, is
# longer than the geodesic distance.

# %%
s0 = torch.tensor([[0.5, 2.6], [0.5, 2.6], [0.5, 2.6]], dtype=torch.float64)
s1 = torch.tensor([[2.8, 3.6], [5.6, 1.0], [3.0, 0.2]], dtype=torch.float64)
v01 = torus.log(s0, s1, tol=TOL)
distance = torch.einsum("ni,nij,nj->n", v01, torus.metric(s0), v01).sqrt()  # = torus.distance(s0, s1)
miss = torus.chart.wrapped_difference(torus.exp(s0, v01, TOL), s1).abs().max().item()
print("exp(s0, log(s0, s1)) - s1:", miss)


def chart_line_length(manifold, a, b, n=400):
    """Length of the straight chart segment from ``a`` to ``b``: ``∫ |b - a|_g(s(t)) dt``."""
    t = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    pts = a + t * (b - a)
    return (torch.einsum("i,nij,j->n", b - a, manifold.metric(pts), b - a).sqrt().mean()).item()


for a, b, d in zip(s0, s1, distance, strict=True):
    print(f"from {a.numpy().round(2)} to {b.numpy().round(2)}: geodesic {d.item():.4f}"
          f"   straight chart line {chart_line_length(torus, a, b):.4f}")

# %%
shortest = torus.geodesic(s0, v01, times=81).transpose(0, 1).numpy()
fig, ax = plt.subplots(figsize=(6.8, 5.5), layout="constrained")
plotting.plot_chart_field(ax, u, v, K, norm=norm, label="K", xlabel="u", ylabel="v")
path_colors = ["#000000", "#ffd400", "#1b9e77"]
plotting.plot_chart_paths(ax, list(shortest), [TWO_PI, TWO_PI], path_colors, start=s0[0].numpy())
for b, c in zip(s1.numpy(), path_colors, strict=True):
    ax.plot(*b, marker="s", ms=8, mfc=c, mec="white", mew=1.5, zorder=6)
    ax.plot(*np.linspace(s0[0].numpy(), b, 2).T, color=c, lw=1, ls=":", zorder=4)
ax.set_xticks(*PI_TICKS)
ax.set_yticks(*PI_TICKS)
ax.set_xlim(0, TWO_PI)
ax.set_ylim(0, TWO_PI)
ax.set_title("shortest geodesics (solid) vs straight chart lines (dotted)")
plt.show()

# %% [markdown]
# ## Parallel transport and holonomy
#
# Parallel transport moves a tangent vector along a curve without turning it, as seen from inside
# the surface. Carry a vector around a closed loop made of geodesic segments and it comes back
# rotated. By the Gauss–Bonnet theorem the rotation angle (the holonomy) equals the curvature
# enclosed by the loop, $\iint K\, dA$ (do Carmo, §4-5). On a sphere of radius $r$ the triangle
# with corners at the south pole and at two points a quarter turn apart on the equator covers an
# eighth of the sphere, so the vector comes back turned by
# $K \cdot \text{area} = \frac{1}{r^2} \cdot \frac{4\pi r^2}{8} = \frac{\pi}{2}$. The stereographic chart
# covers the south pole without a singularity.
#
# `parallel_transport(s, v, w)` transports `w` along the geodesic `exp(s, t v)`; a loop is the
# chain of its edges.


# %%
def transport_around(manifold, corners, w):
    """Transport ``w: (..., 2)`` around closed geodesic polygons through ``corners: (..., n, 2)``.

    All polygons go in one batch: one ``log`` for every edge, then one ``parallel_transport``
    per edge. Returns the transported vectors ``(..., 2)``, the edge velocities ``(..., n, 2)``
    and the vectors at the start of each edge ``(..., n, 2)``.
    """
    velocity = manifold.log(corners, corners.roll(-1, -2), tol=TOL)
    at_corners = []
    for k in range(corners.shape[-2]):
        at_corners.append(w)
        w = manifold.parallel_transport(corners[..., k, :], velocity[..., k, :], w, tol=TOL)
    return w, velocity, torch.stack(at_corners, -2)


def boundary(manifold, corners, velocity, times=33):
    """The polygons' edges as closed chart paths ``(..., n · times, 2)``, unwrapped so that they are
    continuous across the seams of periodic coordinates (polygons in the plane)."""
    edges = manifold.geodesic(corners, velocity, times=times, tol=TOL)  # (times, ..., n, 2)
    edges = edges.movedim(0, -2).flatten(-3, -2)
    return torch.as_tensor(np.unwrap(edges.numpy(), axis=-2))


def signed_angle(g, w0, w1):
    """Oriented angle from ``w0`` to ``w1`` in the inner product ``g`` (Cholesky frame)."""
    lower = torch.linalg.cholesky(g)
    a, b = lower.T @ w0, lower.T @ w1
    return math.atan2((a[0] * b[1] - a[1] * b[0]).item(), (a @ b).item())


def enclosed_curvature(manifold, loop, n):
    """``∫∫ K dA`` over the chart region inside the closed path ``loop: (T, 2)``, on an ``n × n`` grid."""
    low, high = loop.min(0).values.numpy(), loop.max(0).values.numpy()
    _, _, pts = chart_grid(low, high, n)
    inside = PolygonPath(loop.numpy()).contains_points(pts.reshape(-1, 2).numpy()).reshape(n, n)
    local = manifold.local_geometry(pts)
    cell = np.prod((high - low) / n)
    return (local.gaussian_curvature * local.volume_element).numpy()[inside].sum() * cell


stereo = gm.Sphere(2.0, chart="stereographic")
# corners: the south pole and two points a quarter turn apart on the equator
triangle = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
w0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
w1, velocity, _ = transport_around(stereo, triangle, w0)
angle = signed_angle(stereo.metric(triangle[0]), w0, w1)
print(f"holonomy of the octant triangle: {angle:.6f}   π/2 = {math.pi / 2:.6f}")
loop = boundary(stereo, triangle, velocity)
print(f"∫∫ K dA over the triangle (grid): {enclosed_curvature(stereo, loop, 2 * GRID):.4f}")

# %% [markdown]
# On the torus the sign of the enclosed curvature decides the direction of the turn: a geodesic
# triangle on the outer half (K > 0) turns the vector counter-clockwise, one on the inner half
# (K < 0) clockwise, each by the curvature it encloses. Both triangles go in one batch.

# %%
outer = torch.tensor([[-0.6, -0.5], [0.6, -0.5], [0.0, 0.7]], dtype=torch.float64)
triangles = torch.stack([outer, outer + math.pi])  # (2, 3, 2): outer and inner half
w1, velocity, at_corners = transport_around(torus, triangles, w0.expand(2, 2))
loops = boundary(torus, triangles, velocity)
holonomy = []
for name, corners, w_end, loop in zip(("outer (K > 0)", "inner (K < 0)"), triangles, w1, loops, strict=True):
    holonomy.append(signed_angle(torus.metric(corners[0]), w0, w_end))
    print(f"{name}: holonomy {holonomy[-1]:+.4f}   ∫∫ K dA {enclosed_curvature(torus, loop, 2 * GRID):+.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
ax = axes[0]
plotting.plot_chart_field(ax, u, v, K, norm=norm, label="K", xlabel="u", ylabel="v")
plotting.plot_chart_paths(ax, list(loops.numpy()), [TWO_PI, TWO_PI], ["#000000", "#ffd400"])
ax.set_xticks(*PI_TICKS)
ax.set_yticks(*PI_TICKS)
ax.set_xlim(0, TWO_PI)
ax.set_ylim(0, TWO_PI)
ax.set_title("two geodesic triangles on the torus")

# the vector along the outer loop at 5 times per edge (one batched transport), drawn by its
# components in the orthonormal frame (∂u/|∂u|, ∂v/|∂v|): what an observer on the surface sees
ax = axes[1]
ax.plot(*loops[0].T, color="k", lw=1.2)
t = torch.linspace(0, 0.8, 5, dtype=torch.float64)[:, None, None]
where = torus.geodesic(outer, velocity[0], times=6, tol=TOL)[:-1]  # (5, 3, 2)
along = torus.parallel_transport(outer, t * velocity[0], at_corners[0], tol=TOL)
for points, vectors, color in ((where, along, "#d62728"), (outer[:1], w1[:1], "#1f77b4")):
    frame = vectors * torus.metric(points).diagonal(dim1=-2, dim2=-1).sqrt()
    frame = 0.2 * frame / frame.norm(dim=-1, keepdim=True)  # unit length in the frame, drawn 0.2 long
    ax.quiver(*points.reshape(-1, 2).T, *frame.reshape(-1, 2).T, angles="xy", scale_units="xy", scale=1,
              color=color, width=0.008)
ax.set_aspect("equal")
ax.set_title(f"a vector carried around the outer triangle (red)\n"
             f"returns turned by {holonomy[0]:+.3f} rad (blue)")
ax.set_xlabel("u")
ax.set_ylabel("v")
plt.show()

# %% [markdown]
# ## What to take away
#
# * Everything came from `phi` alone; the closed forms were only used to check.
# * Curvature is intrinsic: the flat torus bends in $\mathbb{R}^4$ and still has $K = 0$.
# * Geodesics (`exp`, `log`, `distance`) and parallel transport are batched tensor operations; the
#   holonomy of a loop measures the curvature it encloses.
#
# The same calls work for any `EmbeddedManifold`, including a `LinearBasisManifold` of network
# weights ([tutorial 2](02_weight_manifold_geometry.ipynb)) and a `PullbackManifold` that measures it
# by how much the network's function changes.
