"""Baselines for context-conditioned networks, all called as
``model(x, s)`` like :class:`~geomanifold.conditioning.WeightManifold`, with ``s: (m,)`` shared
by the batch or ``(B, m)`` per example, and a ``param_groups()`` for the optimizer.

- :class:`Unconditioned`: ignores ``s``.
- :class:`InputConcat`, :class:`ConditionedMLP`: context features concatenated to the input
  (channels for CNNs), or to every layer of an MLP.
- :class:`FiLM`: per-example affine modulation of hidden activations.
- :class:`SCN`: softmax mixture of ``D`` weight copies from a coefficient network.
- :class:`HyperNetwork`: every weight generated from ``s`` by a generator MLP.
- :class:`Specialists`: one network per discrete context value (upper bound).
- :func:`parameter_matched_width`: the width that gives a baseline a target parameter count.
"""

from .concat import ConditionedMLP, InputConcat
from .context import ContextModule, context_features, feature_count
from .counting import count_parameters, parameter_matched_width
from .film import FiLM, FiLMLayer
from .hypernetwork import HyperNetwork
from .mlp import layer_sizes, mlp
from .scn import SCN
from .specialists import Specialists
from .unconditioned import Unconditioned

__all__ = [
    "SCN",
    "ConditionedMLP",
    "ContextModule",
    "FiLM",
    "FiLMLayer",
    "HyperNetwork",
    "InputConcat",
    "Specialists",
    "Unconditioned",
    "context_features",
    "count_parameters",
    "feature_count",
    "layer_sizes",
    "mlp",
    "parameter_matched_width",
]
