"""Classical continuous Hopfield networks.

The network ``x' = -leak x + W g(beta x) + s b`` has units x (n,), weights W
(n, n), bias b scaled by ``s`` (the parameter ``bias_scale``), gain beta and
leak ``1 / R``; g is a smooth increasing activation (tanh by default).  Its
Jacobian ``-leak I + beta W diag(g'(beta x))`` is, for symmetric W, similar to
the symmetric ``-leak I + beta D^(1/2) W D^(1/2)`` with ``D = diag(g')``: the
eigenvalues are real and the number of unstable directions is an inertia.
With symmetric W the flow has a Lyapunov function (Hopfield 1984;
Cohen & Grossberg 1983), so it is gradient-like; with non-symmetric W it can
oscillate.

References: Hopfield, "Neurons with graded response have collective
computational properties like those of two-state neurons", PNAS 1984; Cohen &
Grossberg, IEEE Trans. SMC 1983.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
from collections.abc import Callable

import numpy as np
import scipy.special

from .._errors import InputError
from .._system import System
from ._common import as_matrix, as_positive, state_names

__all__ = ["ACTIVATIONS", "Activation", "default_weights", "hebbian", "hopfield"]

logger = logging.getLogger(__name__)

# W counts as symmetric when |W - W^T| <= this times max|W| (entries typed in
# with a few digits are symmetric to rounding).
_SYMMETRY_RTOL = 1e-12

# Singular values (and eigenvalue gaps) of W below this share of its norm
# count as zero in the degeneracy checks.
_DEGENERACY_RTOL = 1e-9

# The rest-point box is the a-priori bound |x_i| <= (sum_j |W_ij| + |b_i|) /
# leak, widened by this factor so that no rest point sits on its faces.
_BOX_WIDEN = 1.1

_DATA_FILE = "hopfield_weights.txt"


@dataclasses.dataclass(frozen=True)
class Activation:
    """A smooth increasing activation g with its first two derivatives.

    Attributes
    ----------
    name : str
    value, slope, curvature : callable
        ``g(z)``, ``g'(z)`` and ``g''(z)``, elementwise on ndarrays.
    bound : float
        ``sup |g|`` (used for the rest-point box); ``inf`` if unbounded.
    """

    name: str
    value: Callable
    slope: Callable
    curvature: Callable
    bound: float = 1.0


def _tanh_slope(z):
    t = np.tanh(z)
    return 1 - t * t


def _tanh_curvature(z):
    t = np.tanh(z)
    return -2 * t * (1 - t * t)


def _logistic_slope(z):
    s = scipy.special.expit(z)
    return s * (1 - s)


def _logistic_curvature(z):
    s = scipy.special.expit(z)
    return s * (1 - s) * (1 - 2 * s)


_HALF_PI = np.pi / 2


def _arctan_value(z):
    return np.arctan(_HALF_PI * z) / _HALF_PI


def _arctan_slope(z):
    return 1 / (1 + (_HALF_PI * z) ** 2)


def _arctan_curvature(z):
    return -2 * _HALF_PI**2 * z * _arctan_slope(z) ** 2


_ROOT_PI_HALF = np.sqrt(np.pi) / 2


def _erf_value(z):
    return scipy.special.erf(_ROOT_PI_HALF * z)


def _erf_slope(z):
    return np.exp(-((_ROOT_PI_HALF * z) ** 2))


def _erf_curvature(z):
    return -2 * _ROOT_PI_HALF**2 * z * _erf_slope(z)


def _algebraic_value(z):
    return z / np.sqrt(1 + z * z)


def _algebraic_slope(z):
    return (1 + z * z) ** -1.5


def _algebraic_curvature(z):
    return -3 * z * (1 + z * z) ** -2.5


# Every activation except the logistic has g(0) = 0 and g'(0) = 1, so the
# origin of an unbiased network loses stability at beta = leak / lambda_max(W).
ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh, _tanh_slope, _tanh_curvature),
    "logistic": Activation(
        "logistic", scipy.special.expit, _logistic_slope, _logistic_curvature
    ),
    "arctan": Activation("arctan", _arctan_value, _arctan_slope, _arctan_curvature),
    "erf": Activation("erf", _erf_value, _erf_slope, _erf_curvature),
    "algebraic": Activation(
        "algebraic", _algebraic_value, _algebraic_slope, _algebraic_curvature
    ),
}


def _activation(activation):
    if isinstance(activation, Activation):
        return activation
    if activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise InputError(
        f"activation must be an Activation or one of {list(ACTIVATIONS)}, "
        f"got {activation!r}"
    )


# Positions of the parameters in p.
_BETA, _LEAK, _BIAS = 0, 1, 2
_PARAMETERS = ("beta", "leak", "bias_scale")


@dataclasses.dataclass(frozen=True, eq=False)
class HopfieldNetwork:
    """The field ``-leak x + W g(beta x) + bias_scale b`` and its derivatives.

    Attributes
    ----------
    weights : ndarray, shape (n, n)
    bias : ndarray, shape (n,)
    activation : Activation
    symmetric : bool
        Whether `weights` is symmetric (then `symmetrizer` applies).
    """

    weights: np.ndarray
    bias: np.ndarray
    activation: Activation
    symmetric: bool

    def rhs(self, x, p):
        drive = self.weights @ self.activation.value(p[_BETA] * x)
        return drive - p[_LEAK] * x + p[_BIAS] * self.bias

    def jacobian(self, x, p):
        gain = p[_BETA] * self.activation.slope(p[_BETA] * x)
        jac = self.weights * gain
        jac[np.diag_indices_from(jac)] -= p[_LEAK]
        return jac

    def param_jacobian(self, x, p):
        slope = self.activation.slope(p[_BETA] * x)
        along_beta = self.weights @ (slope * x)
        return np.column_stack([along_beta, -x, self.bias])

    def second_derivative(self, x, p, k, u, v):
        """f'' along u, v in (x, p_k) space, each of shape (n + 1,)."""
        beta = p[_BETA]
        z = beta * x
        slope, curvature = self.activation.slope(z), self.activation.curvature(z)
        (ux, up), (vx, vp) = (u[:-1], u[-1]), (v[:-1], v[-1])

        inner = beta * beta * curvature * ux * vx
        if k == _BETA:
            mixed = slope + beta * x * curvature
            inner = inner + mixed * (ux * vp + vx * up) + curvature * x * x * up * vp
        result = self.weights @ inner

        if k == _LEAK:
            result = result - (ux * vp + vx * up)
        return result

    def symmetrizer(self, x, p):
        """``-leak I + sign(beta) C^(1/2) W C^(1/2)``, ``C = |beta| diag(g')``.

        Similar to the Jacobian when W is symmetric (``W C`` and
        ``C^(1/2) W C^(1/2)`` share their characteristic polynomial).
        """
        beta = p[_BETA]
        root = np.sqrt(abs(beta) * self.activation.slope(beta * x))

        # W times a rank-one outer product, formed in place (one n x n array,
        # no temporary): exactly symmetric, entry by entry.
        sym = np.multiply(root[:, None], root[None, :])
        sym *= self.weights
        if beta < 0:
            np.negative(sym, out=sym)
        sym.flat[:: sym.shape[0] + 1] -= p[_LEAK]
        return sym

    def box(self, leak, bias_scale):
        """A box holding every rest point when ``leak > 0`` (Notes of `hopfield`)."""
        leak = leak if leak > 0 else 1.0
        drive = np.abs(self.weights).sum(axis=1) * self.activation.bound
        bound = _BOX_WIDEN * (drive + abs(bias_scale) * np.abs(self.bias)) / leak
        bound = np.where(np.isfinite(bound), np.maximum(bound, 1.0), 10.0)
        return -bound, bound

    def gradient_like(self, p):
        """Whether the flow is gradient-like, with the reason, or None if unknown.

        Returns
        -------
        tuple of (bool, str) or None
        """
        if not self.symmetric:
            return None
        return (
            True,
            "W is symmetric: Hopfield's energy is a Lyapunov function "
            "(Cohen & Grossberg 1983), and f_x is similar to a symmetric matrix",
        )

    def structural_checks(self, p):
        """Degenerate cases of the network at parameters p.

        Returns
        -------
        list of tuple
            ``(name, passed, message)`` for the continuum of rest points
            (no leak and singular W) and for the first instability of the
            origin (a repeated top eigenvalue of W).
        """
        return [self._continuum_check(p), self._first_instability_check(p)]

    def _continuum_check(self, p):
        leak = p[_LEAK]
        singular = np.linalg.svd(self.weights, compute_uv=False)
        scale = max(singular[0], 1e-300)
        if abs(leak) > _DEGENERACY_RTOL * scale:
            return ("isolated-rest-points", True, f"leak = {leak:.6g} is not zero")

        rank = int(np.sum(singular > _DEGENERACY_RTOL * scale))
        if rank == singular.size:
            return (
                "isolated-rest-points",
                True,
                f"leak = 0 but W is nonsingular (smallest singular value "
                f"{singular[-1]:.3g}, largest {singular[0]:.3g})",
            )
        return (
            "isolated-rest-points",
            False,
            f"leak = 0 and W is singular (rank {rank} of {singular.size}, smallest "
            f"singular value {singular[-1]:.3g}): where W g(beta x) + b s = 0 has "
            f"a solution it has a continuum of them, along the null space of W",
        )

    def _first_instability_check(self, p):
        name = "simple-first-instability"
        eigenvalues = np.linalg.eigvals(self.weights)
        top = eigenvalues[np.argmax(eigenvalues.real)]
        scale = max(np.max(np.abs(eigenvalues)), 1e-300)
        same = np.abs(eigenvalues - top) <= _DEGENERACY_RTOL**0.5 * scale
        multiplicity = int(np.sum(same))

        gain = float(self.activation.slope(np.zeros(1))[0])
        critical = p[_LEAK] / (gain * top.real) if top.real > 0 else np.inf
        where = f"beta = leak / (g'(0) Re lambda) = {critical:.10g}"
        kind = "Hopf" if abs(top.imag) > _DEGENERACY_RTOL * scale else "pitchfork"
        if multiplicity > 1:
            return (
                name,
                False,
                f"the top eigenvalue {_fmt(top)} of W has multiplicity "
                f"{multiplicity}: the first instability of the origin at {where} "
                f"is degenerate ({multiplicity} eigenvalues cross together)",
            )
        return (
            name,
            True,
            f"the top eigenvalue {_fmt(top)} of W is simple: the origin's first "
            f"instability (a {kind} when the bias vanishes) is at {where}",
        )


def _fmt(value):
    if abs(value.imag) == 0:
        return f"{value.real:.10g}"
    return f"{value.real:.6g}{value.imag:+.6g}i"


def default_weights():
    """The symmetric 5 x 5 weight matrix of the default network, shipped as data.

    Returns
    -------
    ndarray, shape (5, 5)
        Zero diagonal, simple top eigenvalue (about 1.106).
    """
    resource = importlib.resources.files(__package__) / "data" / _DATA_FILE
    with importlib.resources.as_file(resource) as path:
        return np.loadtxt(path)


def _check_weights(weights):
    weights = as_matrix(weights, "weights", square=True)
    spread = np.max(np.abs(weights - weights.T))
    symmetric = bool(spread <= _SYMMETRY_RTOL * max(np.max(np.abs(weights)), 1e-300))
    if symmetric:
        weights = (weights + weights.T) / 2
    return weights, symmetric


def _check_bias(bias, n):
    if bias is None:
        return np.zeros(n)
    bias = as_matrix(bias, "bias", ndim=(0, 1))
    if bias.ndim == 0:
        return np.full(n, float(bias))
    if bias.shape != (n,):
        raise InputError(f"bias must have shape ({n},) like W's rows, got {bias.shape}")
    return bias


def hopfield(
    weights=None,
    bias=None,
    *,
    beta=0.1,
    leak=1.0,
    bias_scale=1.0,
    activation="tanh",
    name="hopfield",
):
    """A classical continuous Hopfield network ``x' = -leak x + W g(beta x) + s b``.

    Parameters
    ----------
    weights : array_like, shape (n, n), optional
        The weights W, symmetric or not.  By default the 5 x 5 symmetric
        matrix shipped with bifurc (`default_weights`).
    bias : float or array_like, shape (n,), optional
        The bias b (zero by default).
    beta, leak, bias_scale : float
        Default values of the parameters ``beta`` (gain), ``leak`` (1 / R,
        zero allowed) and ``bias_scale`` (s).
    activation : str or Activation
        One of ``"tanh"``, ``"logistic"``, ``"arctan"``, ``"erf"``,
        ``"algebraic"`` (all scaled to g'(0) = 1 except the logistic, with
        g'(0) = 1/4), or an `Activation`.
    name : str

    Returns
    -------
    System
        Variables ``x0, x1, ...``, parameters ``beta, leak, bias_scale``;
        analytic Jacobian, f_p for every parameter and second derivatives;
        for symmetric W a `symmetrizer`; `box` from the a-priori bound.

    Notes
    -----
    Every rest point satisfies ``|x_i| <= (sum_j |W_ij| sup|g| + s |b_i|) /
    leak``; the `box` is that bound at the default leak and bias scale (with
    leak 1 when the default leak is 0, where rest points may be unbounded).
    With b = 0 and symmetric W the origin loses stability in a pitchfork at
    ``beta = leak / (g'(0) lambda_max(W))``.  Dense W only: a sparse W is
    converted to a dense array.
    """
    if weights is None:
        weights = default_weights()
    if hasattr(weights, "toarray"):
        weights = weights.toarray()
    weights, symmetric = _check_weights(weights)
    bias = _check_bias(bias, weights.shape[0])
    leak = as_positive(leak, "leak", allow_zero=True)
    network = HopfieldNetwork(weights, bias, _activation(activation), symmetric)

    kind = "symmetric" if symmetric else "non-symmetric"
    return System(
        variables=state_names(weights.shape[0]),
        parameters=_PARAMETERS,
        defaults=np.array([beta, leak, bias_scale], dtype=float),
        rhs=network.rhs,
        jacobian=network.jacobian,
        param_jacobian=network.param_jacobian,
        second_derivative=network.second_derivative,
        symmetrizer=network.symmetrizer if symmetric else None,
        gradient=False,
        name=name,
        description=(
            f"Hopfield network, {weights.shape[0]} units, {kind} W, "
            f"g = {network.activation.name}: x' = -leak x + W g(beta x) + s b"
        ),
        box=network.box(leak, bias_scale),
    )


def hebbian(patterns, *, zero_diagonal=False, **options):
    """A Hopfield network with the Hebbian weights of binary patterns.

    Parameters
    ----------
    patterns : array_like, shape (P, n)
        P patterns of n entries, each +/-1 (0/1 entries are mapped to -1/+1).
    zero_diagonal : bool
        Remove the self-couplings ``W_ii``.
    **options
        Passed to `hopfield` (``bias``, ``beta``, ``leak``, ``activation``,
        ...).

    Returns
    -------
    System
        `hopfield` with ``W = sum_mu xi_mu xi_mu^T / n``.

    Notes
    -----
    One pattern gives a rank-one W: with ``leak=0`` its rest points form a
    continuum, which `bifurc.structural_stability` reports.
    """
    patterns = as_matrix(patterns, "patterns", ndim=(1, 2))
    patterns = np.atleast_2d(patterns)
    values = set(np.unique(patterns).tolist())
    if values <= {0.0, 1.0}:
        patterns = 2 * patterns - 1
    elif not values <= {-1.0, 1.0}:
        raise InputError(
            f"patterns must hold only +/-1 (or 0/1) entries, got {sorted(values)}"
        )

    weights = patterns.T @ patterns / patterns.shape[1]
    if zero_diagonal:
        np.fill_diagonal(weights, 0.0)
    options.setdefault("name", "hebbian-hopfield")
    return hopfield(weights, **options)
