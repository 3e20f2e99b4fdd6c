"""Independent refinement of a fold, to measure how well it was located.

Near a fold (x*, p*) the branch is a smooth curve along which p has a
quadratic extremum.  Parametrised by one state component x_i (the largest
component of the null vector, so the parametrisation is regular there), the
fold is the root of h(s) = dp/dx_i along the branch at x_i = s.  Each value
of h needs a Newton correction of (x, p) with x_i fixed and one solve with the
same bordered matrix [[f_x, f_p], [e_i^T, 0]], which stays regular at the
fold (Keller 1977).  A bracketing 1-D solve (Brent) then gives p* without
using any test function, determinant or second derivative: it is a check
independent of the detection code it measures.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg as sla
import scipy.optimize as so
import scipy.sparse as sp
import scipy.sparse.linalg as spla

# Newton on the corrector stops at this relative step (near rounding level).
NEWTON_RTOL = 1e-13
NEWTON_MAX_ITER = 12

# The first bracket is this fraction of the state's scale around the located
# point; it is doubled until h changes sign, at most BRACKET_TRIES times.
BRACKET_START = 1e-5
BRACKET_TRIES = 30


@dataclasses.dataclass(frozen=True)
class FoldCheck:
    """Result of refining one fold.

    Attributes
    ----------
    value : float
        The refined parameter value p*.
    x : ndarray, shape (n,)
        The refined state.
    residual : float
        ``|f(x, p*)|`` at the refined point.
    converged : bool
    message : str
    """

    value: float
    x: np.ndarray
    residual: float
    converged: bool
    message: str


class _Chart:
    """The branch near a fold, parametrised by the state component x_i."""

    def __init__(self, system, p, k, i, x):
        self.system, self.p, self.k, self.i = system, np.array(p), k, i
        self.x, self.pk = np.array(x), float(p[k])

    def _matrix(self, x, p):
        jac = self.system.fx(x, p)
        column = self.system.fp(x, p, self.k)[:, None]
        if sp.issparse(jac):
            row = sp.csr_matrix(([1.0], ([0], [self.i])), shape=(1, x.size))
            bordered = sp.bmat([[jac, column], [row, None]], format="csc")
            return spla.splu(bordered).solve
        row = np.zeros((1, x.size + 1))
        row[0, self.i] = 1.0
        factors = sla.lu_factor(np.block([[jac, column], [row]]))
        return lambda rhs: sla.lu_solve(factors, rhs)

    def slope(self, s):
        """dp/dx_i along the branch at x_i = s (after correcting onto it)."""
        x, p = self.x.copy(), self.p.copy()
        p[self.k] = self.pk
        x[self.i] = s
        for _ in range(NEWTON_MAX_ITER):
            solve = self._matrix(x, p)
            rhs = np.append(-self.system.f(x, p), s - x[self.i])
            step = solve(rhs)
            if not np.all(np.isfinite(step)):
                raise FloatingPointError(f"the corrector diverged at x[{self.i}] = {s}")
            x += step[:-1]
            p[self.k] += step[-1]
            scale = max(1.0, np.linalg.norm(x), abs(p[self.k]))
            if np.linalg.norm(step) <= NEWTON_RTOL * scale:
                break

        self.x, self.pk = x, float(p[self.k])
        tangent = solve(np.append(np.zeros(x.size), 1.0))
        return float(tangent[-1])


def refine_fold(system, x, p, k, null_vector=None):
    """Refine a fold of `system` near (x, p) in parameter index `k`.

    Parameters
    ----------
    system : bifurc.System
    x : ndarray, shape (n,)
        The located fold's state.
    p : ndarray, shape (m,)
        Full parameter vector at the located fold.
    k : int
        Index of the continued parameter.
    null_vector : ndarray, shape (n,), optional
        Approximate null vector of f_x (for instance the state part of the
        tangent at the fold); chooses the chart coordinate.  Defaults to the
        right singular vector of the smallest singular value (dense only).

    Returns
    -------
    FoldCheck
    """
    try:
        return _refine(system, np.asarray(x, dtype=float), p, k, null_vector)
    except (FloatingPointError, ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        return FoldCheck(np.nan, np.asarray(x), np.nan, False, str(exc))


def _refine(system, x, p, k, null_vector):
    """`refine_fold` without the error handling."""
    if null_vector is None:
        null_vector = np.linalg.svd(np.asarray(system.fx(x, p)))[2][-1]
    i = int(np.argmax(np.abs(null_vector)))
    chart = _Chart(system, p, k, i, x)

    width = BRACKET_START * max(1.0, np.linalg.norm(x, np.inf))
    centre = float(x[i])
    lo, hi = centre - width, centre + width
    h_lo, h_hi = chart.slope(lo), chart.slope(hi)
    for _ in range(BRACKET_TRIES):
        if h_lo * h_hi <= 0:
            break
        width *= 2
        lo, hi = centre - width, centre + width
        h_lo, h_hi = chart.slope(lo), chart.slope(hi)
    else:
        return FoldCheck(np.nan, x, np.nan, False, "no sign change of dp/dx_i")

    root = so.brentq(chart.slope, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    chart.slope(root)
    q = np.array(p, dtype=float)
    q[k] = chart.pk
    residual = float(np.linalg.norm(system.f(chart.x, q)))
    return FoldCheck(chart.pk, chart.x, residual, True, f"chart on x[{i}]")
