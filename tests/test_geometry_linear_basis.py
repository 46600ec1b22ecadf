"""The linear-basis manifold keeps plain control points plain and caches its Gram with autograd on
or off."""

import torch

import geomanifold as gm
from geomanifold.bases import Fourier, TensorProduct
from geomanifold.geometry.local import LocalGeometry

F64 = torch.float64
BASIS = TensorProduct(Fourier(1), Fourier(1))


def control(seed=0, dim=11):
    return torch.randn(BASIS.size, dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_a_plain_tensor_stays_a_plain_tensor_unless_asked():
    p = control()
    manifold = gm.LinearBasisManifold(BASIS, p)
    assert manifold.control_points[0] is p and not p.requires_grad
    assert list(manifold.parameters()) == [] and len(list(manifold.buffers())) == 1
    trainable = gm.LinearBasisManifold(BASIS, control(), trainable=True)
    assert [q.requires_grad for q in trainable.parameters()] == [True]
    parameter = torch.nn.Parameter(control())
    assert gm.LinearBasisManifold(BASIS, parameter).control_points[0] is parameter


def test_the_gram_is_formed_once_per_version_with_grad_on_or_off():
    for points in (control(), torch.nn.Parameter(control())):
        manifold = gm.LinearBasisManifold(BASIS, points)
        s = torch.rand(4, 2, dtype=F64)
        manifold.metric(s)
        formed = manifold._gram_cache[1]  # the one O(K² D) pass
        for grad in (True, False, True):
            with torch.set_grad_enabled(grad):
                manifold.gaussian_curvature(s)
                manifold.metric(s)
        assert manifold._gram_cache[1] is formed
        gram = formed.clone()
        with torch.no_grad():
            points.mul_(3.0)  # in place: the version counter moves
        torch.testing.assert_close(manifold.control_gram().detach(), 9 * gram, rtol=1e-14, atol=0)
        assert manifold._gram_cache[1] is not formed


def test_gradients_through_the_cached_gram_match_the_direct_product():
    p = torch.nn.Parameter(control(1))
    manifold = gm.LinearBasisManifold(BASIS, p)
    s = torch.rand(5, 2, dtype=F64)
    manifold.control_gram()  # cached before autograd needs it
    for _ in range(2):  # twice: the cached value is reused, each backward has its own graph
        p.grad = None
        manifold.scalar_curvature(s).sum().backward()
        cached = p.grad.clone()
    reference = p.detach().clone().requires_grad_(True)
    coeffs = BASIS.jet(s, 2)
    gram = coeffs @ (reference @ reference.T) @ coeffs.transpose(-1, -2)
    LocalGeometry(s, gram, 2).scalar_curvature.sum().backward()
    torch.testing.assert_close(cached, reference.grad, rtol=1e-10, atol=1e-14)
