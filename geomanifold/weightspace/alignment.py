"""Permutation alignment of hidden units: weight matching and activation matching on a
:class:`~geomanifold.weightspace.permutation_spec.PermutationSpec`.

Both pick, for a second network ``B``, permutations of its hidden units that make it as close
as possible to a reference ``A`` while computing the same function (Ainsworth et al. 2023,
"Git Re-Basin", arXiv 2209.04836):

* **weight matching** maximises ``Σ_tensors <W^A, π(W^B)>`` by coordinate ascent: for one
  permutation at a time, with the others fixed, the objective is linear in it, a linear assignment
  problem (``scipy.optimize.linear_sum_assignment``) on the ``(n, n)`` score
  ``Σ rows_p(W^A) rows_p(π_{≠p} W^B)ᵀ``; sweeps in random order until no permutation improves;
* **activation matching** maximises the summed correlation of matched units' activations on a
  batch (Li et al. 2016; Entezari et al. 2022), one assignment per permutation; permutations no
  module output shows (attention heads) then follow by weight matching with the others fixed.

Group-respecting permutations (``GroupNorm``) solve one assignment per pair of groups and one over
the groups. Every result goes through :func:`~geomanifold.weightspace.permutation_spec.permute_model`,
which checks the function on a probe batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from ..arguments import check_int
from .functional import NonFiniteWeightsError
from .metrics import check_batch
from .permutation_spec import PermutationSpec, SpecError, permute_axis, permute_model, unit_rows
from .spec_tracing import trace_permutation_spec

__all__ = [
    "MATCHINGS",
    "activation_matching",
    "align_hidden_units",
    "solve_assignment",
    "weight_matching",
]

MATCHINGS = ("weights", "activations")


def solve_assignment(score: Tensor, groups: int = 1) -> Tensor:
    """The permutation ``π: (n,)`` maximising ``Σ_j score[j, π(j)]`` for ``score: (n, n)``;
    with ``groups > 1`` only permutations that map each of ``groups`` contiguous blocks onto one
    block (group-respecting)."""
    s = score.detach().double().cpu().numpy()
    n = len(s)
    if groups == 1:
        return torch.as_tensor(linear_sum_assignment(s, maximize=True)[1], dtype=torch.long)
    size = n // groups
    values = np.empty((groups, groups))
    inner = {}
    for g in range(groups):
        for h in range(groups):
            block = s[g * size : (g + 1) * size, h * size : (h + 1) * size]
            rows, cols = linear_sum_assignment(block, maximize=True)
            values[g, h], inner[g, h] = block[rows, cols].sum(), cols
    outer = linear_sum_assignment(values, maximize=True)[1]
    return torch.as_tensor(
        np.concatenate([outer[g] * size + inner[g, outer[g]] for g in range(groups)]), dtype=torch.long
    )


def _check_pair(reference: nn.Module, other: nn.Module, spec: PermutationSpec) -> dict[str, int]:
    units = spec.check(reference)
    a, b = reference.state_dict(), other.state_dict()
    for name, tensor in a.items():
        if name not in b or b[name].shape != tensor.shape:
            got = tuple(b[name].shape) if name in b else "nothing"
            raise ValueError(
                f"reference and other must have the same architecture: {name!r} is "
                f"{tuple(tensor.shape)} in reference and {got} in other"
            )
    for label, model in (("reference", reference), ("other", other)):
        bad = sum(int((~torch.isfinite(p)).sum()) for p in model.parameters())
        if bad:
            raise NonFiniteWeightsError(f"{label} has {bad} NaN or infinite weights; it cannot be aligned")
    if set(b) - set(a):
        raise ValueError(
            f"reference and other must have the same architecture: other has {sorted(set(b) - set(a))[:3]} "
            "that reference lacks"
        )
    return units


def _score(
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    spec: PermutationSpec,
    places: list[tuple[str, int, int]],
    perms: Mapping[str, Tensor],
    n: int,
) -> Tensor:
    """``Σ rows(A) rows(π_{other axes} B)ᵀ`` over the tensor axes carrying one permutation."""
    score = torch.zeros(n, n, dtype=torch.float64)
    for name, axis, outer in places:
        if name not in a:
            continue  # buffers (running statistics) are permuted but not matched
        tensor = b[name]
        for other_axis, entry in enumerate(spec.axes[name]):
            if entry is not None and other_axis != axis:
                perm, other_outer = (entry, 1) if isinstance(entry, str) else entry
                tensor = permute_axis(tensor, other_axis, other_outer, perms[perm])
        rows_a = unit_rows(a[name], axis, outer, n).double()
        score += (rows_a @ unit_rows(tensor, axis, outer, n).double().T).cpu()
    return score


@torch.no_grad()
def weight_matching(
    reference: nn.Module,
    other: nn.Module,
    spec: PermutationSpec,
    max_sweeps: int = 100,
    seed: int = 0,
    initial: Mapping[str, Tensor] | None = None,
    solve: list[str] | None = None,
) -> dict[str, Tensor]:
    """Permutations of ``other``'s units maximising ``Σ <W^A, π(W^B)>`` (module docstring).

    Args:
        reference, other: two networks of the same architecture.
        spec: their permutation spec.
        max_sweeps: sweeps over all permutations at most.
        seed: order of the permutations within a sweep.
        initial: starting permutations (identity where missing).
        solve: the permutations to optimise (all by default); the others stay at ``initial``.

    Returns:
        ``{permutation: (n,)}``: unit ``j`` of the aligned network is unit ``perm[j]`` of ``other``.
    """
    units = _check_pair(reference, other, spec)
    check_int("max_sweeps", max_sweeps, 1)
    a = {name: p.detach() for name, p in reference.named_parameters()}
    b = {name: p.detach() for name, p in other.named_parameters()}
    places = spec.entries()
    perms = {p: torch.arange(n) for p, n in units.items()}
    perms.update(initial or {})
    names = sorted(units) if solve is None else list(solve)
    rng = np.random.default_rng(seed)
    for _ in range(max_sweeps):
        changed = False
        for index in rng.permutation(len(names)):
            p = names[index]
            n = units[p]
            score = _score(a, b, spec, places[p], perms, n)
            new = solve_assignment(score, spec.groups.get(p, 1))
            rows = torch.arange(n)
            gain = score[rows, new].sum() - score[rows, perms[p]].sum()
            if gain > 1e-12 * score.abs().sum().clamp_min(1):
                perms[p], changed = new, True
        if not changed:
            break
    return perms


class _Correlations:
    """Running moments of two ``(n, M)`` activation streams: their ``(n, n)`` correlation."""

    def __init__(self, n: int) -> None:
        self.count = 0
        self.sum_a = torch.zeros(n, dtype=torch.float64)
        self.sum_b = torch.zeros(n, dtype=torch.float64)
        self.sq_a = torch.zeros(n, dtype=torch.float64)
        self.sq_b = torch.zeros(n, dtype=torch.float64)
        self.cross = torch.zeros(n, n, dtype=torch.float64)

    def add(self, a: Tensor, b: Tensor) -> None:
        a, b = a.double().cpu(), b.double().cpu()
        self.count += a.shape[1]
        self.sum_a += a.sum(1)
        self.sum_b += b.sum(1)
        self.sq_a += (a * a).sum(1)
        self.sq_b += (b * b).sum(1)
        self.cross += a @ b.T

    def correlation(self) -> Tensor:
        mean_a, mean_b = self.sum_a / self.count, self.sum_b / self.count
        std_a = (self.sq_a / self.count - mean_a**2).clamp_min(0).sqrt() + 1e-12
        std_b = (self.sq_b / self.count - mean_b**2).clamp_min(0).sqrt() + 1e-12
        covariance = self.cross / self.count - mean_a[:, None] * mean_b[None]
        return covariance / (std_a[:, None] * std_b[None])


def _site_outputs(model: nn.Module, sites: list[str], x: Tensor) -> dict[str, Tensor]:
    outputs: dict[str, Tensor] = {}
    handles = [
        model.get_submodule(site).register_forward_hook(
            lambda m, i, o, site=site: outputs.__setitem__(site, o[0] if isinstance(o, tuple) else o)
        )
        for site in sites
    ]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


@torch.no_grad()
def activation_matching(
    reference: nn.Module,
    other: nn.Module,
    spec: PermutationSpec,
    x: Tensor,
    batch_size: int = 256,
    max_sweeps: int = 100,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Permutations of ``other``'s units maximising the correlation of matched units' activations
    on ``x: (N, *F)`` (both networks in eval mode), at the module outputs ``spec.sites`` names;
    permutations without a site follow by weight matching with the others fixed.

    Returns:
        ``{permutation: (n,)}`` as :func:`weight_matching`.
    """
    units = _check_pair(reference, other, spec)
    check_batch(x)
    modes = reference.training, other.training
    reference.eval(), other.eval()
    sites = sorted({module for places in spec.sites.values() for module, _ in places})
    stats = {p: _Correlations(units[p]) for p in spec.sites}
    try:
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            out_a, out_b = _site_outputs(reference, sites, batch), _site_outputs(other, sites, batch)
            for p, places in spec.sites.items():
                for module, axis in places:
                    stats[p].add(*(unit_rows(o[module], axis, 1, units[p]) for o in (out_a, out_b)))
    finally:
        reference.train(modes[0]), other.train(modes[1])
    perms = {p: solve_assignment(s.correlation(), spec.groups.get(p, 1)) for p, s in stats.items()}
    unseen = sorted(set(units) - set(perms))
    if unseen:
        perms = weight_matching(reference, other, spec, max_sweeps, seed, initial=perms, solve=unseen)
    return perms


def align_hidden_units(
    reference: nn.Module,
    other: nn.Module,
    x: Tensor,
    method: str = "weights",
    spec: PermutationSpec | None = None,
    probe_size: int = 64,
    max_sweeps: int = 100,
    seed: int = 0,
) -> nn.Module:
    """``other`` with its hidden units permuted to match ``reference``; computes the same function
    (checked on ``x[:probe_size]``).

    Args:
        reference, other: two networks of the same architecture.
        x: ``(N, *F)`` inputs: the probe batch, the shapes for tracing, and the activations of
            ``method="activations"``.
        method: ``"weights"`` (weight matching) or ``"activations"`` (activation matching).
        spec: a hand-written spec; derived by
            :func:`~geomanifold.weightspace.spec_tracing.trace_permutation_spec` when ``None``.

    Raises:
        SpecError: no spec can be derived (the message says to write one), the spec does not fit,
            or the model has no permutable hidden units.
        FunctionChangedError: the permuted network computes another function (naming the module).
    """
    if method not in MATCHINGS:
        raise ValueError(f"method must be one of {', '.join(MATCHINGS)}; got {method!r}")
    check_batch(x)
    probe = x[:probe_size]
    spec = trace_permutation_spec(reference, probe) if spec is None else spec
    if not spec.entries():
        raise SpecError(
            f"model: found no permutable hidden units in {type(reference).__name__}; "
            "pass a hand-written spec= if it has some"
        )
    if method == "weights":
        perms = weight_matching(reference, other, spec, max_sweeps, seed)
    else:
        perms = activation_matching(reference, other, spec, x, max_sweeps=max_sweeps, seed=seed)
    return permute_model(other, spec, perms, probe)
