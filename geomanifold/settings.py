"""What the experiments can be asked to do, without torch: the valid names of every option that
takes one out of a fixed set, and the settings (defaults and checks) of the path and
functionally-invariant-path experiments.

The command line builds its parsers from this module alone, so ``geomanifold COMMAND --help`` and
a usage error start without loading torch. Each name is written here once; the modules that
implement the names import them from here (``experiments.networks.ARCHITECTURES``,
``experiments.connect.ConnectOptions``, ... are these objects).
"""

from __future__ import annotations

from dataclasses import dataclass

from .arguments import check_sparsity

__all__ = [
    "ALIGNMENTS",
    "ARCHITECTURES",
    "BACKBONES",
    "CONDITIONING_METHODS",
    "CRITERIA",
    "DATA_SET_NAMES",
    "DIVERGENCES",
    "FEW_VALUES",
    "GEODESIC_HOLDOUT",
    "GEODESIC_REDRAW",
    "MANIFOLDS",
    "OPTIMIZERS",
    "PATH_METHODS",
    "PROTOCOLS",
    "TASK_NAMES",
    "TASK_SPLITS",
    "ConnectOptions",
    "ContinualSettings",
    "InstabilityOptions",
    "SparsifySettings",
]

# data and networks (experiments.datasets, experiments.networks)
DATA_SET_NAMES = ("mnist5k", "mnist5k-28", "digits", "mnist1d", "mnist", "fashion", "cifar10")
ARCHITECTURES = ("mlp", "mlp-bn", "cnn", "cnn-bn", "resnet18", "vit")
OPTIMIZERS = ("adam", "sgd")  # of the reference networks' training

# conditioning experiments (experiments.tasks, .protocols, .methods; conditioning.inference)
TASK_NAMES = ("noise", "rotation", "torus", "cylinder", "shift", "noise1d")
PROTOCOLS = ("uniform", "heldout", "extrapolation", "few", "misspecified")
FEW_VALUES = (2, 4, 8)  # training contexts k of the protocol "few"
BACKBONES = ("mlp", "cnn")
MANIFOLDS = ("line", "circle", "fourier2", "spline", "torus", "cylinder")
_MATCHABLE = ("concat", "film", "unconditioned", "concat-every")  # with a parameter-matched variant
CONDITIONING_METHODS = (
    "manifold",
    "manifold-adam",
    "unconditioned",
    "concat",
    "concat-every",
    "film",
    "film-mlp",
    "hypernet",
    "scn",
    "scn-independent",
    "specialists",
    *(f"{name}-matched" for name in _MATCHABLE),
)
CRITERIA = ("entropy", "information")  # label-free criteria of conditioning inference

# paths between networks (experiments.connect, weightspace.divergence)
PATH_METHODS = ("straight", "bezier", "geodesic", "geodesic-bspline", "autoneb")
ALIGNMENTS = ("none", "weights", "activations", "both", "all")
DIVERGENCES = ("squared", "kl")
GEODESIC_REDRAW = 10  # default solver: steps per fitting batch (weightspace.geodesic)
GEODESIC_HOLDOUT = 256  # default solver: training inputs held out to check each round

# functionally invariant paths (experiments.continual)
TASK_SPLITS = ("digits", "rotation")


@dataclass(frozen=True)
class ConnectOptions:
    """Settings of :func:`~geomanifold.experiments.connect.connect_networks` (the
    ``geomanifold connect`` options).

    Attributes:
        methods: subset of :data:`PATH_METHODS`.
        align: which B to connect A to: ``"none"`` (B as trained), ``"weights"`` (B's hidden units
            permuted by weight matching to A's), ``"activations"`` (by activation matching on
            training inputs), ``"both"`` (none and weights) or ``"all"`` (the three).
        kind: output divergence of the task metric, ``"kl"`` or ``"squared"``.
        interior: free interior points of the geodesic polyline.
        steps, geodesic_lr, metric_batch: steps, first step (in segment lengths of the chord) and
            fitting batch of the geodesic solver (:func:`~geomanifold.weightspace.geodesic.solve_geodesic`).
        redraw, holdout: its steps per fitting batch (0: one fixed batch) and the training inputs
            held out to check each round (0: no check).
        autoneb_cycles, autoneb_steps: AutoNEB's cycles and Adam steps per cycle (learning rate
            ``bezier_lr``, minibatches of ``batch_size``).
        bezier_epochs, bezier_lr, batch_size: training of the mode-connecting Bézier curve.
        points: evaluation points along ``t``; ``metric_inputs``: test inputs for function-space
            length, energy and speed.
    """

    methods: tuple[str, ...] = ("straight", "bezier", "geodesic")
    align: str = "both"
    kind: str = "kl"
    interior: int = 16
    steps: int = 300
    geodesic_lr: float | None = None
    metric_batch: int = 256
    redraw: int = GEODESIC_REDRAW
    holdout: int = GEODESIC_HOLDOUT
    bezier_epochs: int = 3
    bezier_lr: float = 1e-3
    autoneb_cycles: int = 3
    autoneb_steps: int = 100
    batch_size: int = 64
    points: int = 61
    metric_inputs: int = 500

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in PATH_METHODS]
        if unknown or not self.methods:
            raise ValueError(
                f"--methods: unknown {unknown or 'empty list'}; valid: {', '.join(PATH_METHODS)}"
            )
        if self.align not in ALIGNMENTS:
            raise ValueError(f"--align must be one of {', '.join(ALIGNMENTS)}; got {self.align!r}")
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 3:
            raise ValueError(
                "--points must be an integer >= 3 (the two endpoints and at least one interior point "
                f"of each path), got {self.points!r}"
            )
        for option, value in (("--redraw", self.redraw), ("--holdout", self.holdout)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{option} must be an integer >= 0 (0: off), got {value!r}")


@dataclass(frozen=True)
class InstabilityOptions:
    """Settings of :func:`~geomanifold.experiments.instability.instability` (the
    ``geomanifold instability`` options).

    Attributes:
        ks: the steps ``k`` after which the two copies part (each ``< steps``).
        steps: total optimizer steps of each copy.
        arch, width: the network (:func:`~geomanifold.experiments.networks.build_network`).
        optimizer, lr, batch_size: training (SGD has momentum 0.9, as in Frankle et al.).
        points: evaluation points on the line between the copies (ends included).
    """

    ks: tuple[int, ...] = (0, 10, 50, 200)
    steps: int = 600
    arch: str = "cnn"
    width: int = 16
    optimizer: str = "sgd"
    lr: float = 0.05
    batch_size: int = 64
    points: int = 11

    def __post_init__(self) -> None:
        if not self.ks or any(
            isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.steps for k in self.ks
        ):
            raise ValueError(f"--k must list steps in [0, --steps = {self.steps}), got {list(self.ks)}")
        if len(set(self.ks)) != len(self.ks):
            raise ValueError(f"--k must list distinct steps, got {list(self.ks)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr!r}")
        if self.points < 3:
            raise ValueError(
                f"--points must be an integer >= 3 (an interior point at least), got {self.points}"
            )


@dataclass(frozen=True)
class SparsifySettings:
    """What :func:`~geomanifold.experiments.sparsify.run` does; every field is recorded in
    ``sparsify.json``."""

    data: str = "mnist5k"
    arch: str = "mlp"
    width: int = 100
    epochs: int = 10
    sparsities: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
    steps: int = 2000
    penalty: float = 1.0
    length_factor: float = 6.0
    batch_size: int = 256
    finetune_lr: float = 1e-3
    record_every: int = 100
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if not self.sparsities:
            raise ValueError("--sparsities: give at least one sparsity in (0, 1)")
        for value in self.sparsities:
            check_sparsity(value, "--sparsities")
        if self.steps < 1 or self.record_every < 1:
            raise ValueError(
                f"--steps and --record-every must be >= 1, got {self.steps} and {self.record_every}"
            )
        if not self.length_factor > 0 or not self.penalty >= 0:
            raise ValueError(
                f"--length-factor must be > 0 and --penalty >= 0, got {self.length_factor} and {self.penalty}"
            )


@dataclass(frozen=True)
class ContinualSettings:
    """What :func:`~geomanifold.experiments.continual.run` does; every field is recorded in
    ``continual.json``."""

    data: str = "mnist5k"
    arch: str = "mlp"
    width: int = 100
    epochs: int = 10
    task_splits: tuple[str, ...] = TASK_SPLITS
    rotation: float = 0.25
    steps: int = 2000
    buffer_size: int = 200
    step_length: float = 0.05
    penalty: float = 3.0
    batch_size: int = 128
    lr: float = 1e-3
    record_every: int = 100

    def __post_init__(self) -> None:
        unknown = [name for name in self.task_splits if name not in TASK_SPLITS]
        if not self.task_splits or unknown:
            raise ValueError(
                f"--task-split must be among {', '.join(TASK_SPLITS)}; got {list(self.task_splits)}"
            )
        if min(self.steps, self.record_every, self.buffer_size) < 1:
            raise ValueError(
                f"--steps, --record-every and --buffer-size must be >= 1, got {self.steps}, "
                f"{self.record_every} and {self.buffer_size}"
            )
