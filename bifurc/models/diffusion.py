"""The memory landscape of a diffusion model trained to perfection.

For training points a_1..a_N in R^d with weights w_i, the data smoothed by a
Gaussian of width sigma has the density
``p_sigma(x) = sum_i w_i N(x; a_i, sigma^2 I)``.  Its ideal denoiser is the
posterior mean

    D_sigma(x) = sum_i pi_i(x) a_i,
    pi = softmax(log w_i - |x - a_i|^2 / (2 sigma^2)),

and ``x' = D_sigma(x) - x = sigma^2 grad log p_sigma(x)`` is the gradient
flow of ``V_sigma = -sigma^2 log p_sigma`` (up to a constant in x).  Its rest
points and their Morse indices are those of the score field; as sigma falls
the single sink of the smoothed data splits, and for small sigma every
training point is a sink (memorisation).  The Jacobian ``Cov_pi(a) / sigma^2 -
I`` is symmetric.

References: Song et al., "Score-based generative modeling through stochastic
differential equations", ICLR 2021; Karras et al., "Elucidating the design
space of diffusion-based generative models", NeurIPS 2022; Biroli & Mezard,
"Generative diffusion in very large dimensions", 2023.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from .._errors import InputError
from .._system import System
from . import _mixture
from ._common import as_matrix, state_names

__all__ = [
    "PARAMETERIZATIONS",
    "diffusion",
    "noise_to_parameter",
    "parameter_to_noise",
]

logger = logging.getLogger(__name__)

PARAMETERIZATIONS = ("sigma", "log_sigma", "beta", "vp_time", "ve_time")

# The box around the data grows by this share of the data's extent (rest
# points lie in the convex hull of the data, so any margin is enough).
_BOX_MARGIN = 0.05

# Floor of the box margin, relative to the data's size: keeps the box open
# along directions in which all points agree.
_MIN_MARGIN = 1e-3


def _variance(parameterization, theta):
    """sigma^2 and its first two derivatives with respect to the parameter.

    Returns NaNs outside the parameterisation's domain, so that a run that
    steps there ends with a non-finite status rather than a warning.
    """
    if parameterization == "sigma":
        s, ds, d2s = theta * theta, 2 * theta, 2.0
    elif parameterization == "log_sigma":
        s = np.exp(2 * theta)
        ds, d2s = 2 * s, 4 * s
    elif parameterization == "beta":
        s, ds, d2s = _beta_variance(theta)
    elif parameterization == "vp_time":
        grow = np.exp(2 * theta)
        s, ds, d2s = np.expm1(2 * theta), 2 * grow, 4 * grow
    else:
        s, ds, d2s = theta, 1.0, 0.0

    if not (s > 0 and np.isfinite(s)):
        return np.nan, np.nan, np.nan
    return s, ds, d2s


def _beta_variance(beta):
    if not beta > 0:
        return np.nan, np.nan, np.nan
    return 1 / beta, -1 / beta**2, 2 / beta**3


def parameter_to_noise(parameterization, value):
    """The noise level sigma at parameter `value` of a parameterisation.

    Parameters
    ----------
    parameterization : {"sigma", "log_sigma", "beta", "vp_time", "ve_time"}
    value : float

    Returns
    -------
    float
        sigma >= 0, or NaN outside the parameterisation's domain.
    """
    _check_parameterization(parameterization)
    return float(np.sqrt(_variance(parameterization, float(value))[0]))


def noise_to_parameter(parameterization, sigma):
    """The parameter value of a parameterisation at noise level `sigma` > 0.

    The inverse of `parameter_to_noise`: ``log(sigma)``, ``1 / sigma^2``,
    ``log(1 + sigma^2) / 2`` (variance preserving) or ``sigma^2`` (variance
    exploding).
    """
    _check_parameterization(parameterization)
    sigma = float(sigma)
    if not (sigma > 0 and np.isfinite(sigma)):
        raise InputError(f"sigma must be finite and positive, got {sigma!r}")

    values = {
        "sigma": sigma,
        "log_sigma": np.log(sigma),
        "beta": 1 / sigma**2,
        "vp_time": np.log1p(sigma**2) / 2,
        "ve_time": sigma**2,
    }
    return float(values[parameterization])


def _check_parameterization(parameterization):
    if parameterization not in PARAMETERIZATIONS:
        raise InputError(
            f"parameterization must be one of {list(PARAMETERIZATIONS)}, "
            f"got {parameterization!r}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class DiffusionLandscape:
    """The denoiser flow ``x' = D_sigma(x) - x`` of a finite training set.

    Attributes
    ----------
    points : ndarray, shape (N, d)
        Training points a_i.
    log_weights : ndarray, shape (N,)
        Normalised log weights (``logsumexp(log_weights) = 0``).
    parameterization : str
        How the single parameter maps to sigma (see `diffusion`).
    """

    points: np.ndarray
    log_weights: np.ndarray
    parameterization: str

    def _mixture(self, x, s):
        """Softmax moments at x for variance s, with squared distances q (N,)."""
        offsets = x - self.points
        q = np.einsum("ij,ij->i", offsets, offsets)
        logits = self.log_weights - q / (2 * s)
        return (*_mixture.moments(self.points, logits), q, offsets)

    def rhs(self, x, p):
        s = _variance(self.parameterization, p[0])[0]
        _, mean, _, _, _, _ = self._mixture(x, s)
        return mean - x

    def jacobian(self, x, p):
        s = _variance(self.parameterization, p[0])[0]
        weights, _, centred, _, _, _ = self._mixture(x, s)
        jac = _mixture.covariance(weights, centred) / s
        jac[np.diag_indices_from(jac)] -= 1.0
        return jac

    def param_jacobian(self, x, p):
        s, ds, _ = _variance(self.parameterization, p[0])
        weights, _, centred, _, q, _ = self._mixture(x, s)
        alpha = q * (ds / (2 * s * s))
        return _mixture.first_derivative(weights, centred, alpha)[:, None]

    def second_derivative(self, x, p, k, u, v):
        """f'' along u, v in (x, parameter) space, each of shape (d + 1,)."""
        s, ds, d2s = _variance(self.parameterization, p[0])
        weights, _, centred, _, q, offsets = self._mixture(x, s)
        (ux, up), (vx, vp) = (u[:-1], u[-1]), (v[:-1], v[-1])

        along_u, along_v = offsets @ ux, offsets @ vx
        alpha_u = -along_u / s + q * (ds * up / (2 * s * s))
        alpha_v = -along_v / s + q * (ds * vp / (2 * s * s))

        curvature = -(ux @ vx) / s + (ds / (s * s)) * (along_u * vp + along_v * up)
        curvature = curvature + (up * vp) * q * (d2s / (2 * s * s) - ds * ds / s**3)
        return _mixture.second_derivative(weights, centred, alpha_u, alpha_v, curvature)

    def energy(self, x, p):
        """``V = -sigma^2 log sum_i w_i exp(-|x - a_i|^2 / (2 sigma^2))``."""
        s = _variance(self.parameterization, p[0])[0]
        log_total = self._mixture(x, s)[3]
        return float(-s * log_total)

    def box(self):
        """The data's bounding box, slightly enlarged: it holds every rest point."""
        lower, upper = self.points.min(axis=0), self.points.max(axis=0)
        size = max(
            float(np.max(upper - lower)), float(np.max(np.abs(self.points))), 1.0
        )
        margin = np.maximum(_BOX_MARGIN * (upper - lower), _MIN_MARGIN * size)
        return lower - margin, upper + margin


def _as_points(points):
    """Training points as an (N, d) array; a 1-D array is N points on a line."""
    array = as_matrix(points, "points", ndim=(1, 2))
    return array[:, None] if array.ndim == 1 else array


def _log_weights(weights, n_points):
    if weights is None:
        return np.full(n_points, -np.log(n_points))
    weights = as_matrix(weights, "weights", ndim=1)
    if weights.shape != (n_points,) or np.any(weights <= 0):
        raise InputError(
            f"weights must be {n_points} positive numbers (one per point), "
            f"got {weights}"
        )
    return np.log(weights) - np.log(weights.sum())


def diffusion(
    points,
    weights=None,
    *,
    parameterization="sigma",
    value=None,
    name="diffusion",
):
    """The memory landscape of an ideal diffusion model on a training set.

    Parameters
    ----------
    points : array_like, shape (N, d) or (N,)
        Training points a_i (a 1-D array holds N points on a line).
    weights : array_like, shape (N,), optional
        Positive weights w_i (normalised here); equal weights by default.
    parameterization : {"sigma", "log_sigma", "beta", "vp_time", "ve_time"}
        The system's single parameter, which carries this name:

        - ``"sigma"``: the noise level sigma;
        - ``"log_sigma"``: log sigma;
        - ``"beta"``: the inverse variance 1 / sigma^2;
        - ``"vp_time"``: time t of the variance-preserving process
          dx = -x dt + sqrt(2) dW, whose rescaled state x_t e^t is the data
          plus noise of variance sigma^2 = e^(2t) - 1;
        - ``"ve_time"``: time t of the variance-exploding process dx = dW,
          with sigma^2 = t.
    value : float, optional
        Default value of the parameter.  By default the one at which sigma
        equals the largest distance from the weighted mean to a point (at
        least 1), where a single sink remains.
    name : str
        The system's name.

    Returns
    -------
    System
        Variables ``x0, x1, ...`` (``x`` when d = 1); ``gradient=True`` with
        `energy` ``V_sigma``; analytic Jacobian, f_p and second derivatives;
        `box` around the data.

    Notes
    -----
    Two points +/-a on a line give ``x' = a tanh(a x / sigma^2) - x``: one
    pitchfork at sigma = a, where two sinks appear near +/-a.  Computations
    shift the logits by their maximum, so that sigma = 1e-2 with points at
    distance 1 gives weights that underflow to exact zeros and rest points
    at the data to machine precision.
    """
    _check_parameterization(parameterization)
    points = _as_points(points)
    log_weights = _log_weights(weights, points.shape[0])
    landscape = DiffusionLandscape(points, log_weights, parameterization)

    if value is None:
        mean = np.exp(log_weights) @ points
        radius = float(np.max(np.linalg.norm(points - mean, axis=1)))
        value = noise_to_parameter(parameterization, max(radius, 1.0))
    if not np.isfinite(parameter_to_noise(parameterization, value)):
        raise InputError(
            f"value {value!r} lies outside the domain of parameterization "
            f"{parameterization!r}"
        )

    n_points, dim = points.shape
    return System(
        variables=state_names(dim),
        parameters=(parameterization,),
        defaults=np.array([float(value)]),
        rhs=landscape.rhs,
        jacobian=landscape.jacobian,
        param_jacobian=landscape.param_jacobian,
        second_derivative=landscape.second_derivative,
        energy=landscape.energy,
        gradient=True,
        name=name,
        description=(
            f"ideal denoiser flow of {n_points} training points in {dim}-D, "
            f"parameter {parameterization}"
        ),
        box=landscape.box(),
    )
