"""Modern (dense) Hopfield networks with softmax retrieval.

For stored patterns xi_1..xi_N in R^d, collected as the columns of
``Xi`` (d, N), the retrieval dynamics

    x' = Xi softmax(beta Xi^T x) - x

is the gradient flow of the log-sum-exp energy
``E(x) = -(1/beta) log sum_i exp(beta xi_i . x) + |x|^2 / 2``, with the
symmetric Jacobian ``beta Cov_pi(xi) - I``.  For small inverse temperature
beta the only rest point is near the patterns' mean; as beta grows,
metastable mixtures and then the single patterns become sinks.

References: Krotov & Hopfield, "Dense associative memory for pattern
recognition", NeurIPS 2016; Ramsauer et al., "Hopfield networks is all you
need", ICLR 2021.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._system import System
from . import _mixture
from ._common import as_matrix, state_names

__all__ = ["modern_hopfield"]

# Relative box margin around the patterns (rest points lie in their convex
# hull, so any positive margin keeps them inside).
_BOX_MARGIN = 0.05


@dataclasses.dataclass(frozen=True, eq=False)
class ModernHopfield:
    """The field ``Xi softmax(beta Xi^T x) - x``; `patterns` has shape (N, d)."""

    patterns: np.ndarray

    def _mixture(self, x, beta):
        overlaps = self.patterns @ x
        return (*_mixture.moments(self.patterns, beta * overlaps), overlaps)

    def rhs(self, x, p):
        return self._mixture(x, p[0])[1] - x

    def jacobian(self, x, p):
        weights, _, centred, _, _ = self._mixture(x, p[0])
        jac = p[0] * _mixture.covariance(weights, centred)
        jac[np.diag_indices_from(jac)] -= 1.0
        return jac

    def param_jacobian(self, x, p):
        weights, _, centred, _, overlaps = self._mixture(x, p[0])
        return _mixture.first_derivative(weights, centred, overlaps)[:, None]

    def second_derivative(self, x, p, k, u, v):
        """f'' along u, v in (x, beta) space, each of shape (d + 1,)."""
        beta = p[0]
        weights, _, centred, _, overlaps = self._mixture(x, beta)
        along_u, along_v = self.patterns @ u[:-1], self.patterns @ v[:-1]

        alpha_u = beta * along_u + u[-1] * overlaps
        alpha_v = beta * along_v + v[-1] * overlaps
        curvature = u[-1] * along_v + v[-1] * along_u
        return _mixture.second_derivative(weights, centred, alpha_u, alpha_v, curvature)

    def energy(self, x, p):
        """Log-sum-exp energy, shifted by ``log(N) / beta`` (finite at beta = 0)."""
        beta = p[0]
        overlaps = self.patterns @ x
        if beta == 0:
            return float(x @ x / 2 - overlaps.mean())

        log_total = self._mixture(x, beta)[3]
        shift = np.log(overlaps.size)
        return float(x @ x / 2 - (log_total - shift) / beta)

    def box(self):
        """The patterns' bounding box, enlarged by a margin."""
        lower, upper = self.patterns.min(axis=0), self.patterns.max(axis=0)
        margin = _BOX_MARGIN * np.maximum(upper - lower, 1.0)
        return lower - margin, upper + margin


def modern_hopfield(patterns, *, beta=1.0, name="modern-hopfield"):
    """A modern Hopfield network storing `patterns`, with beta as parameter.

    Parameters
    ----------
    patterns : array_like, shape (N, d)
        One stored pattern xi_i per row (the columns of Xi).
    beta : float
        Default inverse temperature (the parameter ``beta``).
    name : str

    Returns
    -------
    System
        Variables ``x0, x1, ...``, parameter ``beta``; ``gradient=True``
        with the log-sum-exp `energy`; analytic Jacobian, f_p and second
        derivatives; `box` around the patterns.

    Notes
    -----
    Two patterns +/-xi give ``x' = xi tanh(beta xi . x) - x``: a pitchfork at
    ``beta = 1 / |xi|^2``.  With patterns of equal norm the flow is the
    diffusion landscape of the same points at sigma^2 = 1 / beta.
    """
    patterns = as_matrix(patterns, "patterns")
    network = ModernHopfield(patterns)
    n_patterns, dim = patterns.shape
    return System(
        variables=state_names(dim),
        parameters=("beta",),
        defaults=np.array([float(beta)]),
        rhs=network.rhs,
        jacobian=network.jacobian,
        param_jacobian=network.param_jacobian,
        second_derivative=network.second_derivative,
        energy=network.energy,
        gradient=True,
        name=name,
        description=(
            f"modern Hopfield network, {n_patterns} patterns in {dim}-D, "
            "x' = Xi softmax(beta Xi^T x) - x"
        ),
        box=network.box(),
    )
