"""Permutation specs: which axes of which tensors share one permutation of hidden units.

Permuting the units of a hidden layer (and every tensor axis that reads or writes them)
leaves a network's function unchanged. A :class:`PermutationSpec` says, for each tensor of the
state dict, which permutation acts on each of its axes: one table, as git-re-basin's
``PermutationSpec`` (Ainsworth et al. 2023, arXiv 2209.04836), with two refinements:

* an axis of length ``L`` carrying permutation ``p`` of ``n`` units is read as ``(outer, n,
  inner)`` row-major, ``inner = L / (outer · n)``: a unit owns a block of ``inner`` entries
  (the channel-major block of a ``Flatten``, the ``head_dim`` columns of an attention head) and
  ``outer`` copies of the layout sit side by side (the packed q, k, v rows of
  ``nn.MultiheadAttention``);
* a permutation may be restricted to ``groups`` contiguous blocks (``GroupNorm``): units move
  only within their group and whole groups move as blocks.

Specs are written by hand (``PermutationSpec(axes={"fc1.weight": ("P1", None), "fc1.bias":
("P1",), "fc2.weight": (None, "P1")})``) or derived from the model by
:func:`~geomanifold.weightspace.spec_tracing.trace_permutation_spec`. :func:`permute_model`
applies permutations and checks on a probe batch that the function did not change; when it did,
it names the first module whose output changed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = [
    "AxisEntry",
    "FunctionChangedError",
    "PermutationSpec",
    "SpecError",
    "check_same_function",
    "permute_axis",
    "permute_model",
    "unit_rows",
]

AxisEntry = str | tuple[str, int] | None
"""One axis of a tensor in a spec: ``None`` (not permuted), a permutation name, or ``(name,
outer)``."""


class SpecError(ValueError):
    """A permutation spec that does not fit the model (or a model no spec can be derived for)."""


class FunctionChangedError(RuntimeError):
    """A permutation changed the network's outputs on the probe batch."""


@dataclass(frozen=True)
class PermutationSpec:
    """Which permutation acts on each axis of each tensor (see module docstring).

    Attributes:
        axes: ``{state-dict name: (entry per axis)}``, each entry an :data:`AxisEntry`; tensors
            not listed are never permuted.
        sizes: ``{permutation: units}``; a permutation not listed has as many units as the shortest
            ``L / outer`` of its axes.
        groups: ``{permutation: number of groups}`` for group-respecting permutations (GroupNorm).
        sites: ``{permutation: ((module name, axis), ...)}``: module outputs whose ``axis`` shows
            the units (laid out as on the tensors), for activation matching.
    """

    axes: Mapping[str, tuple[AxisEntry, ...]]
    sizes: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, int] = field(default_factory=dict)
    sites: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    def entries(self) -> dict[str, list[tuple[str, int, int]]]:
        """``{permutation: [(tensor name, axis, outer), ...]}``."""
        out: dict[str, list[tuple[str, int, int]]] = {}
        for name, entries in self.axes.items():
            for axis, entry in enumerate(entries):
                if entry is not None:
                    perm, outer = (entry, 1) if isinstance(entry, str) else entry
                    out.setdefault(perm, []).append((name, axis, outer))
        return out

    def check(self, model: nn.Module) -> dict[str, int]:
        """Check the spec against ``model``'s state dict; returns ``{permutation: units}``.

        Raises:
            SpecError: a tensor the model does not have, an entry count that is not the tensor's
                number of axes, an axis length that is not a multiple of ``outer · units``, or
                sizes/groups/sites naming unknown permutations (one line naming the entry).
        """
        state = model.state_dict()
        entries = self.entries()
        for name, axis_entries in self.axes.items():
            if name not in state:
                raise SpecError(f"spec: the model has no tensor {name!r} (its names: state_dict keys)")
            if not isinstance(axis_entries, tuple) or len(axis_entries) != state[name].ndim:
                raise SpecError(
                    f"spec: {name!r} has {state[name].ndim} axes {tuple(state[name].shape)}, "
                    f"but its entry is {axis_entries!r}; give a tuple with one entry per axis"
                )
            for entry in axis_entries:
                ok = (
                    entry is None
                    or isinstance(entry, str)
                    or (
                        isinstance(entry, tuple)
                        and len(entry) == 2
                        and isinstance(entry[0], str)
                        and isinstance(entry[1], int)
                        and entry[1] >= 1
                    )
                )
                if not ok:
                    raise SpecError(
                        f"spec: {name!r} has entry {entry!r}; each axis is None, a permutation name or "
                        "(name, outer >= 1)"
                    )
        for table in ("sizes", "groups", "sites"):
            unknown = sorted(set(getattr(self, table)) - set(entries))
            if unknown:
                raise SpecError(f"spec: {table} names permutations {unknown} that no axis carries")
        units = {}
        for perm, places in entries.items():
            lengths = [state[name].shape[axis] // outer for name, axis, outer in places]
            n = self.sizes.get(perm, min(lengths))
            for name, axis, outer in places:
                length = state[name].shape[axis]
                if n < 1 or length % (outer * n):
                    raise SpecError(
                        f"spec: {name!r} axis {axis} has length {length}, not a multiple of "
                        f"outer {outer} × {n} units of permutation {perm!r}"
                    )
            groups = self.groups.get(perm, 1)
            if not isinstance(groups, int) or groups < 1 or n % groups:
                raise SpecError(f"spec: groups[{perm!r}] = {groups!r} must be an int dividing its {n} units")
            units[perm] = n
        return units


def unit_rows(tensor: Tensor, axis: int, outer: int, units: int) -> Tensor:
    """``tensor`` with the units of ``axis`` (laid out ``(outer, units, inner)``) as rows:
    ``(units, numel / units)``."""
    shape = tensor.shape
    split = tensor.reshape(*shape[:axis], outer, units, -1, *shape[axis + 1 :])
    return split.movedim(axis + 1, 0).reshape(units, -1)


def permute_axis(tensor: Tensor, axis: int, outer: int, perm: Tensor) -> Tensor:
    """``tensor`` with the units of ``axis`` reordered: unit ``j`` becomes unit ``perm[j]`` of the
    input (``perm: (units,)``)."""
    shape = tensor.shape
    split = tensor.reshape(*shape[:axis], outer, len(perm), -1, *shape[axis + 1 :])
    return split.index_select(axis + 1, perm.to(tensor.device)).reshape(shape)


def _permuted_state(
    state: Mapping[str, Tensor], spec: PermutationSpec, perms: Mapping[str, Tensor], skip: str | None = None
) -> dict[str, Tensor]:
    """The tensors of ``spec`` from ``state`` with every permutation but ``skip`` applied."""
    out = {}
    for name, entries in spec.axes.items():
        tensor = state[name]
        for axis, entry in enumerate(entries):
            if entry is not None:
                perm, outer = (entry, 1) if isinstance(entry, str) else entry
                if perm != skip:
                    tensor = permute_axis(tensor, axis, outer, perms[perm])
        out[name] = tensor
    return out


def _tolerance(reference: Tensor) -> float:
    """``10³ ε (1 + max |reference|)``: room for the changed order of sums over permuted units."""
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    return 1e3 * torch.finfo(reference.dtype).eps * (1 + scale)


def _outputs(value) -> Tensor | None:
    """The first tensor of a module's output (tuples: the first element)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, tuple | list) and value and isinstance(value[0], Tensor):
        return value[0]
    return None


@torch.no_grad()
def _module_outputs(model: nn.Module, probe: Tensor) -> list[tuple[str, Tensor]]:
    """``[(module name, sorted flat output)]`` in the order the modules finish."""
    record: list[tuple[str, Tensor]] = []
    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(
                module.register_forward_hook(
                    lambda m, i, o, name=name: (
                        record.append((name, o))
                        if (o := _outputs(o)) is not None and o.is_floating_point()
                        else None
                    )
                )
            )
    try:
        model(probe)
    finally:
        for handle in handles:
            handle.remove()
    return [(name, out.detach().reshape(-1).sort().values) for name, out in record]


@torch.no_grad()
def check_same_function(original: nn.Module, permuted: nn.Module, probe: Tensor) -> None:
    """Raise :class:`FunctionChangedError` unless ``permuted`` computes ``original``'s outputs on
    ``probe: (N, *F)`` (both in eval mode, in float64 copies so that reduced-precision kernels such
    as TF32 cannot pass for a changed function; tolerance ``10³ ε (1 + max |output|)``).

    A permutation of hidden units only rearranges the entries of each module's output, so the first
    module (in execution order) whose sorted outputs differ is where the spec broke; it is named.
    """
    if any(p.is_floating_point() and p.dtype != torch.float64 for p in original.parameters()):
        original, permuted = copy.deepcopy(original).double(), copy.deepcopy(permuted).double()
        probe = probe.double() if probe.is_floating_point() else probe
    modes = original.training, permuted.training
    original.eval(), permuted.eval()
    try:
        want, got = original(probe), permuted(probe)
        if want.shape == got.shape and (want - got).abs().max() <= _tolerance(want):
            return
        for (name, a), (_, b) in zip(
            _module_outputs(original, probe), _module_outputs(permuted, probe), strict=False
        ):
            if a.shape != b.shape or (a - b).abs().max() > _tolerance(a):
                module = original.get_submodule(name)
                raise FunctionChangedError(
                    f"the permutation changed the function: outputs of module {name!r} "
                    f"({type(module).__name__}) differ on the probe batch; the spec is wrong for the "
                    "tensors of this module or of the ones feeding it"
                )
        raise FunctionChangedError(
            "the permutation changed the function: the model's outputs differ on the probe batch "
            "(every module's outputs agree up to order: the spec is wrong where tensors are combined "
            "outside modules)"
        )
    finally:
        original.train(modes[0]), permuted.train(modes[1])


def permute_model(
    model: nn.Module, spec: PermutationSpec, perms: Mapping[str, Tensor], probe: Tensor
) -> nn.Module:
    """A copy of ``model`` with its units permuted (unit ``j`` of permutation ``p`` is unit
    ``perms[p][j]`` of ``model``), checked on ``probe: (N, *F)`` to compute the same function.

    Raises:
        SpecError: the spec does not fit the model, or ``perms`` misses a permutation or is not one.
        FunctionChangedError: the outputs changed (naming the module where the spec broke).
    """
    units = spec.check(model)
    for perm, n in units.items():
        p = perms.get(perm)
        if p is None or p.shape != (n,) or not torch.equal(torch.sort(p.cpu()).values, torch.arange(n)):
            raise SpecError(f"perms[{perm!r}] must be a permutation of {n} units, got {p!r}")
    permuted = copy.deepcopy(model)
    state = model.state_dict()
    new = _permuted_state(state, spec, perms)
    with torch.no_grad():
        target = permuted.state_dict()
        for name, tensor in new.items():
            target[name].copy_(tensor)
    check_same_function(model, permuted, probe)
    return permuted
