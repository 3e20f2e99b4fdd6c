"""Classic small families: a tilted double well, a symmetric two-well and Bratu.

All three are gradient flows with closed-form energies and derivatives; their
bifurcations are known in closed form, which makes them reference problems.
"""

from __future__ import annotations

import numpy as np

from .._system import System
from ._common import tensor_second_derivative

__all__ = ["bratu", "double_well", "two_well"]

# Boxes searched for rest points (every rest point in the default parameter
# ranges lies inside; Bratu's upper branch reaches x = 3 at its branch point).
_DOUBLE_WELL_BOX = 3.0
_TWO_WELL_BOX = 3.0
_BRATU_BOX = (-2.0, 8.0)


def _double_well_hessian(x, q):
    curvature = -6 * q[1] * x[0]
    mixed = 1 - 3 * x[0] ** 2
    return np.array([[[curvature, 0.0, mixed], [0.0, 0.0, 0.0], [mixed, 0.0, 0.0]]])


def double_well(tilt=-1.0, depth=1.0):
    """A tilted double well ``E = depth (x^2 - 1)^2 / 4 - tilt x``.

    The flow ``x' = tilt - depth (x^3 - x)`` has two sinks and a saddle for
    ``|tilt| < 2 depth / (3 sqrt 3)``; the wells vanish in folds at
    ``tilt = +/-2 depth / (3 sqrt 3)``.

    Returns
    -------
    System
        Variable ``x``, parameters ``tilt`` and ``depth``; gradient flow.
    """
    return System(
        variables=("x",),
        parameters=("tilt", "depth"),
        defaults=np.array([tilt, depth], dtype=float),
        rhs=lambda x, q: q[0] - q[1] * (x**3 - x),
        jacobian=lambda x, q: np.array([[q[1] * (1 - 3 * x[0] ** 2)]]),
        param_jacobian=lambda x, q: np.array([[1.0, -(x[0] ** 3 - x[0])]]),
        second_derivative=tensor_second_derivative(_double_well_hessian),
        energy=lambda x, q: float(q[1] * (x[0] ** 2 - 1) ** 2 / 4 - q[0] * x[0]),
        gradient=True,
        name="double-well",
        description="tilted double well E = depth (x^2 - 1)^2 / 4 - tilt x",
        box=(np.array([-_DOUBLE_WELL_BOX]), np.array([_DOUBLE_WELL_BOX])),
    )


def _two_well_hessian(x, q):
    first = [[-6 * x[0], 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    return np.array([first, np.zeros((3, 3))])


def two_well(mu=-1.0):
    """The symmetric two-well family ``E = x^4 / 4 - mu x^2 / 2 + y^2 / 2``.

    One sink at the origin for mu < 0; at the pitchfork mu = 0 it becomes a
    saddle whose two unstable branches go to the sinks ``(+/-sqrt(mu), 0)``.

    Returns
    -------
    System
        Variables ``x, y``, parameter ``mu``; gradient flow.
    """
    return System(
        variables=("x", "y"),
        parameters=("mu",),
        defaults=np.array([float(mu)]),
        rhs=lambda x, q: np.array([q[0] * x[0] - x[0] ** 3, -x[1]]),
        jacobian=lambda x, q: np.array([[q[0] - 3 * x[0] ** 2, 0.0], [0.0, -1.0]]),
        param_jacobian=lambda x, q: np.array([[x[0]], [0.0]]),
        second_derivative=tensor_second_derivative(_two_well_hessian),
        energy=lambda x, q: float(x[0] ** 4 / 4 - q[0] * x[0] ** 2 / 2 + x[1] ** 2 / 2),
        gradient=True,
        name="two-well",
        description="symmetric two-well E = x^4/4 - mu x^2/2 + y^2/2",
        box=(np.full(2, -_TWO_WELL_BOX), np.full(2, _TWO_WELL_BOX)),
    )


def _bratu_rhs(x, q):
    growth = q[0] * np.exp(x)
    return np.array([-2 * x[0] + x[1], x[0] - 2 * x[1]]) + growth


def _bratu_jacobian(x, q):
    growth = q[0] * np.exp(x)
    return np.array([[growth[0] - 2, 1.0], [1.0, growth[1] - 2]])


def _bratu_hessian(x, q):
    e = np.exp(x)
    first = [[q[0] * e[0], 0.0, e[0]], [0.0, 0.0, 0.0], [e[0], 0.0, 0.0]]
    second = [[0.0, 0.0, 0.0], [0.0, q[0] * e[1], e[1]], [0.0, e[1], 0.0]]
    return np.array([first, second])


def _bratu_energy(x, q):
    quadratic = x[0] ** 2 - x[0] * x[1] + x[1] ** 2
    return float(quadratic - q[0] * np.exp(x).sum())


def bratu(a=0.0):
    """The two-variable Bratu problem ``x' = -2x + y + a e^x, y' = x - 2y + a e^y``.

    The gradient flow of ``E = x^2 - x y + y^2 - a (e^x + e^y)``.  On the
    symmetric branch x = y = s with ``s = a e^s`` it folds at a = 1/e
    (s = 1) and has a pitchfork at ``a = 3 e^-3`` (s = 3), where the
    antisymmetric eigenvalue ``a e^s - 3`` vanishes.

    Returns
    -------
    System
        Variables ``x, y``, parameter ``a``; gradient flow.
    """
    lower, upper = _BRATU_BOX
    return System(
        variables=("x", "y"),
        parameters=("a",),
        defaults=np.array([float(a)]),
        rhs=_bratu_rhs,
        jacobian=_bratu_jacobian,
        param_jacobian=lambda x, q: np.exp(x).reshape(2, 1),
        second_derivative=tensor_second_derivative(_bratu_hessian),
        energy=_bratu_energy,
        gradient=True,
        name="bratu",
        description=(
            "two-variable Bratu problem x' = -2x + y + a e^x, y' = x - 2y + a e^y"
        ),
        box=(np.full(2, lower), np.full(2, upper)),
    )
