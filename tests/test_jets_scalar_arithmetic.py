"""ScalarArithmetic: same values as plain torch, no zero tangents for Python numbers under jvp."""

import operator

import pytest
import torch
from torch.func import jvp
from torch.profiler import profile

from geomanifold.jets import ScalarArithmetic, jet

F64 = torch.float64

OPERATIONS = [
    ("x * c", lambda x, c: x * c),
    ("c * x", lambda x, c: c * x),
    ("x + c", lambda x, c: x + c),
    ("c + x", lambda x, c: c + x),
    ("x - c", lambda x, c: x - c),
    ("c - x", lambda x, c: c - x),
    ("x / c", lambda x, c: x / c),
    ("torch.mul", lambda x, c: torch.mul(x, c)),
    ("torch.add", lambda x, c: torch.add(x, c)),
    ("torch.sub", lambda x, c: torch.sub(x, c)),
    ("torch.div", lambda x, c: torch.div(x, c)),
    ("Tensor.mul", lambda x, c: x.mul(c)),
    ("operator.truediv", lambda x, c: operator.truediv(x, c)),
]


def nested_jvp(fn, x):
    d = torch.ones_like(x)
    return jvp(lambda y, e: jvp(fn, (y,), (e,))[1], (x, d), (d, torch.zeros_like(d)))


@pytest.mark.parametrize("name, op", OPERATIONS)
@pytest.mark.parametrize("number", [3, -0.7])
def test_values_and_derivatives_equal_plain_torch(name, op, number):
    x = torch.linspace(0.5, 2.0, 7, dtype=F64)
    fn = lambda y: op(torch.sin(y), number) * y  # noqa: E731
    plain = (op(x, number), *nested_jvp(fn, x))
    with ScalarArithmetic():
        routed = (op(x, number), *nested_jvp(fn, x))
    for a, b in zip(plain, routed, strict=True):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_integer_tensors_and_keyword_calls_keep_their_meaning():
    n = torch.arange(5)
    with ScalarArithmetic():
        assert (n * 2).dtype == torch.int64 and (n / 2).dtype == torch.get_default_dtype()
        torch.testing.assert_close(torch.add(n.double(), 2, alpha=3), n.double() + 6)
        torch.testing.assert_close(torch.div(n.double(), 2, rounding_mode="floor"), n.double().div(2).floor())


def test_no_zero_tangent_is_built_for_a_number_under_nested_jvp():
    x = torch.linspace(0.5, 2.0, 7, dtype=F64)
    fn = lambda y: 2.5 * torch.sin(y) + 1.0  # noqa: E731

    def zero_tensors(run) -> int:
        with profile() as prof:
            run()
        return sum(event.name == "aten::_efficientzerotensor" for event in prof.events())

    assert zero_tensors(lambda: nested_jvp(fn, x)) > 0  # the slow path this mode avoids
    with ScalarArithmetic():
        assert zero_tensors(lambda: nested_jvp(fn, x)) == 0


def test_jet_of_a_map_with_constants_matches_closed_form_derivatives():
    # phi(s) = 3 s² / 2 − 1: first derivative 3 s, second 3, third 0
    s = torch.tensor([[0.2], [-1.5]], dtype=F64)
    vectors = jet(lambda t: (3 * t**2 / 2 - 1).expand(*t.shape[:-1], 2), s, 3)
    expected = torch.stack([3 * s**2 / 2 - 1, 3 * s, torch.full_like(s, 3.0), torch.zeros_like(s)], dim=-2)
    torch.testing.assert_close(vectors, expected.expand(-1, -1, 2), rtol=1e-15, atol=1e-15)
