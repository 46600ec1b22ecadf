"""Task metrics on weight space: matrix-free products against the dense Jᵀ H J (float64)."""

import numpy as np
import pytest
import torch
from torch import nn

from geomanifold.weightspace import NonFiniteWeightsError, output_divergence, parameter_vector
from geomanifold.weightspace.functional import call_with_vector
from geomanifold.weightspace.metrics import TaskMetric


def tiny_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4)).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    return model, parameter_vector(model), x


def independent_dense(model, w, x, kind):
    """Jᵀ H J from a finite-difference-free explicit Jacobian built column by column with jvp."""
    basis = torch.eye(w.numel(), dtype=w.dtype)
    columns = [torch.func.jvp(lambda u: call_with_vector(model, u, x), (w,), (e,))[1] for e in basis]
    jac = torch.stack(columns, dim=-1)  # (N, C, D)
    p = call_with_vector(model, w, x).softmax(-1)
    h = (
        torch.eye(4, dtype=w.dtype).expand(6, 4, 4)
        if kind == "gauss-newton"
        else (torch.diag_embed(p) - p[:, :, None] * p[:, None, :])
    )
    return torch.einsum("nci,ncd,ndj->ij", jac, h, jac) / len(x)


@pytest.mark.parametrize("kind", ["gauss-newton", "fisher"])
def test_metric_vector_product_and_quadratic_form_equal_dense_jt_h_j(kind):
    model, w, x = tiny_model()
    metric = TaskMetric(model, w, x, kind)
    dense = independent_dense(model, w, x, kind)
    torch.testing.assert_close(metric.dense(), dense)
    v = torch.randn(w.numel(), dtype=torch.float64)
    torch.testing.assert_close(metric.matvec(v), dense @ v)
    torch.testing.assert_close(metric.matvec(2 * v), 2 * dense @ v)  # the cached vjp is reused
    torch.testing.assert_close(metric.quadratic(v), v @ dense @ v)


@pytest.mark.parametrize("kind", ["gauss-newton", "fisher"])
def test_lanczos_spectrum_matches_numpy_eigh(kind):
    model, w, x = tiny_model()
    metric = TaskMetric(model, w, x, kind)
    reference_values, reference_vectors = np.linalg.eigh(metric.dense().numpy())
    values, vectors = metric.eigenpairs(k=4, tol=1e-12)
    np.testing.assert_allclose(values.numpy(), reference_values[::-1][:4], rtol=1e-8)
    overlap = np.abs(vectors.numpy().T @ reference_vectors[:, ::-1][:, :4])
    np.testing.assert_allclose(np.diag(overlap), 1, atol=1e-6)


def test_metric_is_the_second_order_term_of_the_output_divergence():
    model, w, x = tiny_model()
    dw = 1e-4 * torch.randn(w.numel(), dtype=torch.float64)
    for kind, divergence in (("gauss-newton", "squared"), ("fisher", "kl")):
        exact = output_divergence(
            call_with_vector(model, w, x), call_with_vector(model, w + dw, x), divergence
        )
        torch.testing.assert_close(TaskMetric(model, w, x, kind).quadratic(dw), exact, rtol=1e-3, atol=0)


def test_euclidean_metric_is_the_identity():
    model, w, x = tiny_model()
    metric = TaskMetric(model, w, x, "euclidean")
    v = torch.randn(w.numel(), dtype=torch.float64)
    torch.testing.assert_close(metric.matvec(v), v)
    torch.testing.assert_close(metric.quadratic(v), v @ v)


def test_minibatch_metric_uses_a_subset():
    model, w, x = tiny_model()
    metric = TaskMetric.minibatch(model, w, x, 3, torch.Generator().manual_seed(0), "fisher")
    assert metric.x.shape == (3, 3)


def test_bad_input_gets_one_line_errors_naming_the_argument():
    model, w, x = tiny_model()
    with pytest.raises(ValueError, match=r"x must be a non-empty batch"):
        TaskMetric(model, w, x[:0])
    with pytest.raises(ValueError, match=r"kind must be one of euclidean, gauss-newton, fisher"):
        TaskMetric(model, w, x, "hessian")
    bad = w.clone()
    bad[0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match=r"^w has 1 NaN"):
        TaskMetric(model, bad, x)
    with pytest.raises(ValueError, match=r"w must have shape \(D=44,\)"):
        TaskMetric(model, w[:5], x)
    with pytest.raises(RuntimeError):  # wrong input features: the model itself says so
        TaskMetric(model, w, torch.zeros(2, 7, dtype=torch.float64)).matvec(w)
