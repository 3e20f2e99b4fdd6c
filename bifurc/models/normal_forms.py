"""Normal forms of the codimension-one bifurcations of rest points (and the cusp).

Each constructor returns a `System` with closed-form first and second
derivatives; the scalar ones are gradient flows with the energy
``E = -integral f dx``.  References: Kuznetsov, "Elements of Applied
Bifurcation Theory", chapters 3 and 8; Guckenheimer & Holmes, chapter 3.
"""

from __future__ import annotations

import numpy as np

from .._system import System
from ._common import tensor_second_derivative

__all__ = [
    "cusp",
    "fold",
    "hopf",
    "pitchfork",
    "subcritical_pitchfork",
    "transcritical",
]

# Half-width of the box searched for rest points: every rest point of the
# normal forms within their default parameter ranges lies inside.
_BOX_HALF_WIDTH = 3.0


def _scalar_system(name, description, parameters, rhs, jac, fp, hessian, energy):
    """A one-variable gradient system from its closed-form pieces.

    `hessian(x, p)` returns the (1 + m, 1 + m) second derivatives of f with
    respect to (x, p).
    """
    return System(
        variables=("x",),
        parameters=tuple(parameters),
        defaults=np.array(list(parameters.values()), dtype=float),
        rhs=rhs,
        jacobian=jac,
        param_jacobian=fp,
        second_derivative=tensor_second_derivative(lambda x, p: hessian(x, p)[None]),
        energy=energy,
        gradient=True,
        name=name,
        description=description,
        box=(np.array([-_BOX_HALF_WIDTH]), np.array([_BOX_HALF_WIDTH])),
    )


def fold(p=1.0):
    """The saddle-node (fold) normal form ``x' = p - x^2``.

    Two rest points ``+/-sqrt(p)`` for p > 0 (the positive one a sink)
    collide at the fold p = 0.  Energy ``E = x^3 / 3 - p x``.
    """
    return _scalar_system(
        "fold",
        "saddle-node normal form x' = p - x^2",
        {"p": p},
        lambda x, q: q[0] - x * x,
        lambda x, q: np.array([[-2 * x[0]]]),
        lambda x, q: np.ones((1, 1)),
        lambda x, q: np.array([[-2.0, 0.0], [0.0, 0.0]]),
        lambda x, q: float(x[0] ** 3 / 3 - q[0] * x[0]),
    )


def pitchfork(p=-1.0):
    """The supercritical pitchfork ``x' = p x - x^3``.

    The origin is a sink for p < 0 and a saddle for p > 0, where the sinks
    ``+/-sqrt(p)`` appear.  Energy ``E = x^4 / 4 - p x^2 / 2``.
    """
    return _scalar_system(
        "pitchfork",
        "supercritical pitchfork normal form x' = p x - x^3",
        {"p": p},
        lambda x, q: q[0] * x - x**3,
        lambda x, q: np.array([[q[0] - 3 * x[0] ** 2]]),
        lambda x, q: x.reshape(1, 1).copy(),
        lambda x, q: np.array([[-6 * x[0], 1.0], [1.0, 0.0]]),
        lambda x, q: float(x[0] ** 4 / 4 - q[0] * x[0] ** 2 / 2),
    )


def subcritical_pitchfork(p=-1.0):
    """The subcritical pitchfork ``x' = p x + x^3``.

    The unstable rest points ``+/-sqrt(-p)`` (p < 0) shrink onto the origin,
    which loses stability at p = 0.  Energy ``E = -x^4 / 4 - p x^2 / 2``.
    """
    return _scalar_system(
        "subcritical-pitchfork",
        "subcritical pitchfork normal form x' = p x + x^3",
        {"p": p},
        lambda x, q: q[0] * x + x**3,
        lambda x, q: np.array([[q[0] + 3 * x[0] ** 2]]),
        lambda x, q: x.reshape(1, 1).copy(),
        lambda x, q: np.array([[6 * x[0], 1.0], [1.0, 0.0]]),
        lambda x, q: float(-(x[0] ** 4) / 4 - q[0] * x[0] ** 2 / 2),
    )


def transcritical(p=-1.0):
    """The transcritical normal form ``x' = p x - x^2``.

    The rest points 0 and p exchange stability at p = 0.  Energy
    ``E = x^3 / 3 - p x^2 / 2``.
    """
    return _scalar_system(
        "transcritical",
        "transcritical normal form x' = p x - x^2",
        {"p": p},
        lambda x, q: q[0] * x - x * x,
        lambda x, q: np.array([[q[0] - 2 * x[0]]]),
        lambda x, q: x.reshape(1, 1).copy(),
        lambda x, q: np.array([[-2.0, 1.0], [1.0, 0.0]]),
        lambda x, q: float(x[0] ** 3 / 3 - q[0] * x[0] ** 2 / 2),
    )


def cusp(mu=-1.0, lam=1.0):
    """The cusp normal form ``x' = mu + lam x - x^3``.

    For lam > 0 the branch in mu folds twice, at
    ``mu = +/-2 (lam / 3)^(3/2)``; the folds meet at the cusp point
    mu = lam = 0.  Energy ``E = x^4 / 4 - lam x^2 / 2 - mu x``.
    """
    return _scalar_system(
        "cusp",
        "cusp normal form x' = mu + lam x - x^3",
        {"mu": mu, "lam": lam},
        lambda x, q: q[0] + q[1] * x - x**3,
        lambda x, q: np.array([[q[1] - 3 * x[0] ** 2]]),
        lambda x, q: np.array([[1.0, x[0]]]),
        lambda x, q: np.array(
            [[-6 * x[0], 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
        ),
        lambda x, q: float(x[0] ** 4 / 4 - q[1] * x[0] ** 2 / 2 - q[0] * x[0]),
    )


def _hopf_rhs(x, q):
    r2 = x @ x
    return np.array([q[0] * x[0] - x[1] - x[0] * r2, x[0] + q[0] * x[1] - x[1] * r2])


def _hopf_jacobian(x, q):
    a, b = x
    return np.array(
        [
            [q[0] - 3 * a * a - b * b, -1 - 2 * a * b],
            [1 - 2 * a * b, q[0] - a * a - 3 * b * b],
        ]
    )


def _hopf_hessian(x, q):
    a, b = x
    first = [[-6 * a, -2 * b, 1.0], [-2 * b, -2 * a, 0.0], [1.0, 0.0, 0.0]]
    second = [[-2 * b, -2 * a, 0.0], [-2 * a, -6 * b, 1.0], [0.0, 1.0, 0.0]]
    return np.array([first, second])


def hopf(mu=-1.0):
    """The supercritical Hopf normal form in Cartesian coordinates.

    ``x' = mu x - y - x (x^2 + y^2)``, ``y' = x + mu y - y (x^2 + y^2)``:
    the origin is a stable focus for mu < 0 and an unstable one for mu > 0,
    surrounded by the stable periodic orbit of radius ``sqrt(mu)``.  Not a
    gradient flow (eigenvalues ``mu +/- i``).
    """
    return System(
        variables=("x", "y"),
        parameters=("mu",),
        defaults=np.array([float(mu)]),
        rhs=_hopf_rhs,
        jacobian=_hopf_jacobian,
        param_jacobian=lambda x, q: x.reshape(2, 1).copy(),
        second_derivative=tensor_second_derivative(_hopf_hessian),
        gradient=False,
        name="hopf",
        description="Hopf normal form, eigenvalues mu +/- i at the origin",
        box=(np.full(2, -_BOX_HALF_WIDTH), np.full(2, _BOX_HALF_WIDTH)),
    )
