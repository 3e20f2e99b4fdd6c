"""Stability of non-symmetric systems from the eigenvalues near the axis.

A full eigendecomposition at every continuation point costs about 25 LU
factorisations at n = 500.  What decides stability and Hopf points is only
the part of the spectrum near the imaginary axis, so the continuation
computes all eigenvalues at a *reference* point and afterwards only those in
a disc about 0.  The disc holds the eigenvalues nearest 0, chosen so that
every eigenvalue outside it lies at least a *margin* ``delta`` left of the
axis.  Its eigenvalues come from shift-invert Arnoldi (ARPACK, Lehoucq,
Sorensen and Yang 1998) whose solves reuse the corrector's LU factorisation
of the bordered matrix

    B = [[f_x, f_p], [r^T]]:   with B (v, mu) = e_{n+1}  and
    B (x_r, y_r) = (r, 0),     f_x^{-1} r = x_r - (y_r / mu) v,

so a tracked point costs a few dozen triangular solves and no further
factorisation (Govaerts 2000, ch. 3, on bordered solves).

A point is tracked while an upper bound of ``|f_x - f_x(reference)|_2``
stays below a *budget*; otherwise it becomes the next reference, where
everything is computed afresh.  The budget rests on two facts.  A Schur
form ``J = Q (D + N) Q^H`` makes J a normal matrix with the same
eigenvalues plus a perturbation no larger than Henrici's departure from
normality ``|N|_F``, computable from |J|_F and the eigenvalues; and for a
normal matrix no eigenvalue moves further than the perturbation
(Bauer-Fike), while each connected union of the discs keeps its number of
eigenvalues.  So while the bound plus the departure stays below the margin
and the gap to the disc's edge, every eigenvalue right of the axis comes
from one of the nearest and lies in the disc, Arnoldi finds all
eigenvalues in it (however many have entered), and the unstable count and
the Hopf test read them.  A strongly non-normal f_x, whose departure
exceeds the margin, is not tracked, nor is a disc with repeated
eigenvalues (Arnoldi from one start vector finds one copy), nor a large
system whose references know only the rightmost eigenvalues.

References
----------
Lehoucq, R. B., Sorensen, D. C. and Yang, C. (1998). ARPACK Users' Guide.
Govaerts, W. (2000). Numerical Methods for Bifurcations of Dynamical
Equilibria.  Meerbergen, K. and Spence, A. (1997). Implicitly restarted
Arnoldi with purification for the shift-invert transformation (on
shift-invert for the rightmost eigenvalues).  Wilkinson, J. H. (1965). The
Algebraic Eigenvalue Problem (condition numbers, inverse iteration).
Henrici, P. (1962). Bounds for iterates, inverses, spectral variation and
fields of values of non-normal matrices (departure from normality).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._linalg import rightmost_eigenvalues

__all__ = ["DENSE_EIGENVALUES_MAX", "Reference", "SpectrumTracker", "eigenvalue_near"]

logger = logging.getLogger(__name__)

# At most this many eigenvalues are tracked, and the disc that holds them is
# chosen to maximise budget / (count + _ARNOLDI_OVERHEAD): Arnoldi's cost
# grows with the count, the number of points a reference lasts with the
# budget; the overhead stands for the fixed part of an Arnoldi run (about
# eight eigenvalues' worth at n = 100 to 500).
_MAX_TRACKED = 48
_ARNOLDI_OVERHEAD = 8

# Nor more than n / _TRACKED_SHARE of them: beyond that Arnoldi costs about
# as much as all eigenvalues.
_TRACKED_SHARE = 8

# The rightmost eigenvalues of a large system are computed until one of them
# is stable (then all unstable ones are among them), but no more than
# _RIGHTMOST_MAX of them (Arnoldi's cost grows with their square).
_RIGHTMOST_MAX = 128

# A tracked disc may hold up to this many times as many eigenvalues as at its
# reference before a new reference is cheaper.
_GROWTH_LIMIT = 4

# Eigenvalues may move by this share of the margin and of the gap to the
# next modulus: an eigenvalue outside the disc then stays clear of the axis,
# and the disc's edge clear of the next eigenvalue, with room for rounding.
_MARGIN_SHARE = 0.9

# Arnoldi settings: convergence tolerance, and the fixed seed of the start
# vector (runs are reproducible).
_ARNOLDI_TOL = 1e-10
_ARNOLDI_SEED = 20240501

# Eigenvalues closer than this (relative) count as repeated: Arnoldi from
# one start vector finds one copy, so such a disc is not tracked.
_REPEATED_RTOL = 1e-6

# Rounding allowance of the departure from normality, in ulps of |J|_F^2
# per eigenvalue (the subtraction of two sums of n squares).
_DEPARTURE_ULPS = 4

# Inverse iteration for one eigenvalue: residual tolerance relative to the
# 1-norm of the matrix, and the most solves tried.
_INVERSE_TOL = 1e-14
_INVERSE_STEPS = 40

# All eigenvalues by a dense eigensolver up to this size (at references and
# for Hopf location); above it the rightmost, or those near a target, by
# Arnoldi.
DENSE_EIGENVALUES_MAX = 600


@dataclasses.dataclass(frozen=True)
class Reference:
    """What a reference point leaves for the points that follow it.

    Attributes
    ----------
    jac : ndarray or sparse matrix, shape (n, n)
        f_x at the reference point (a private copy).
    radius : float
        Radius of the disc about 0 whose eigenvalues are tracked.
    count : int
        Number of known eigenvalues strictly inside the disc at the
        reference (the first guess of how many Arnoldi must find).
    budget : float
        How far f_x may move (2-norm) before a new reference is needed; 0
        when nothing can be tracked.
    """

    jac: object
    radius: float
    count: int
    budget: float


class SpectrumTracker:
    """Unstable counts of a non-symmetric f_x, mostly without a full spectrum.

    Parameters
    ----------
    n : int
        Number of state variables.
    k : int
        Number of rightmost eigenvalues computed at references of large
        systems (doubled until the watched ones are all found).
    """

    def __init__(self, n, k):
        self.n, self.k = n, k
        self.counts = {"reference": 0, "tracked": 0}
        self._v0 = np.random.default_rng(_ARNOLDI_SEED).standard_normal(n)

    def evaluate(self, jac, lu, tangent, reference):
        """Stability at a point: ``(n_unstable, eigenvalues, reference)``.

        Parameters
        ----------
        jac : ndarray or sparse matrix, shape (n, n)
            f_x at the point.
        lu : Factorization or None
            LU factors of the bordered matrix at the point.
        tangent : ndarray, shape (n + 1,)
            The tangent (solution of ``B z = e_{n+1}`` up to scale).
        reference : Reference or None
            The reference of the previous point, if any.

        Returns
        -------
        n_unstable : int
        eigenvalues : ndarray of complex
            All eigenvalues at a reference point of a dense system, else the
            tracked ones; by decreasing real part.
        reference : Reference
            This point's reference (the old one when tracked).
        """
        values = None
        usable = reference is not None and reference.budget > 0 and lu is not None
        if usable and self._still(jac, reference):
            values = self._tracked(lu, tangent, reference)
        if values is not None:
            self.counts["tracked"] += 1
            return _unstable(values), values, reference

        self.counts["reference"] += 1
        values, reference = self._reference(jac)

        return _unstable(values), values, reference

    def _still(self, jac, reference):
        """Whether f_x moved less than the reference's budget."""
        return _norm_bound(jac - reference.jac) <= reference.budget

    def _tracked(self, lu, tangent, reference):
        """All eigenvalues in the reference disc, or None if not found."""
        k = reference.count + 2
        most = min(self.n - 1, _GROWTH_LIMIT * k)
        while k < most:
            values = _near_zero(lu, tangent, k, self._v0)
            if values is None:
                return None
            if np.max(np.abs(values)) > reference.radius:
                inside = values[np.abs(values) <= reference.radius]
                return _by_real_part(inside)
            k = k + max(2, k // 2)

        return None

    def _reference(self, jac):
        """All eigenvalues (or the rightmost) and the disc they define."""
        values = self._spectrum(jac)
        if values.size < self.n:
            # The rightmost only: no bound on how far the others move.
            return values, Reference(None, 0.0, 0, 0.0)
        radius, count, budget = _best_disc(values, _departure(jac, values), self.n)

        if budget <= 0 or _has_repeated(values[np.abs(values) <= radius]):
            return values, Reference(None, 0.0, 0, 0.0)
        copy = jac.copy() if sp.issparse(jac) else np.array(jac, dtype=float)

        return values, Reference(copy, radius, count, budget)

    def _spectrum(self, jac):
        """All eigenvalues of a dense f_x, else enough rightmost ones."""
        if self.n <= DENSE_EIGENVALUES_MAX:
            dense = jac.toarray() if sp.issparse(jac) else jac
            return _by_real_part(scipy.linalg.eigvals(dense, check_finite=False))
        k = min(self.k, self.n)

        while True:
            values = rightmost_eigenvalues(jac, k)
            if _unstable(values) < values.size or k >= min(self.n - 2, _RIGHTMOST_MAX):
                return values
            k = min(2 * k, self.n, _RIGHTMOST_MAX)


def _unstable(values):
    return int(np.count_nonzero(values.real > 0))


def _by_real_part(values):
    return values[np.argsort(-values.real, kind="stable")]


def _best_disc(values, departure, n):
    """``(radius, count, budget)`` of the disc to track, or ``(0, 0, 0)``.

    Every eigenvalue of ``f_x(ref) + E`` lies within ``|E|_2 + departure``
    of one of f_x(ref) (Bauer-Fike for the normal matrix ``Q D Q^H`` with
    the perturbation ``Q N Q^H + E``), and by continuity each connected
    union of such discs keeps its number of eigenvalues.  For the c
    eigenvalues nearest 0, ``delta_c`` is the distance from the axis of the
    nearest one outside them; a disc reaching towards the j-th modulus holds
    them after a move of less than ``|lambda_j| - |lambda_c|``.  The move
    allowed is a share of the smaller of the two, and the *budget* for
    ``|E|_2`` is that less the departure.  Of all ``(c, j)`` the one with
    the largest budget per unit of Arnoldi work,
    ``budget / (j + _ARNOLDI_OVERHEAD)``, is chosen.
    """
    order = np.argsort(np.abs(values), kind="stable")
    size, real = np.abs(values)[order], values.real[order]
    margins = -np.append(np.maximum.accumulate(real[::-1])[::-1], -np.inf)

    top = min(n - 3, _MAX_TRACKED, n // _TRACKED_SHARE, size.size - 1)
    c = np.arange(1, top + 1)[:, None]
    j = np.arange(top + 1)[None, :]
    move = _MARGIN_SHARE * np.minimum(size[j] - size[c - 1], margins[c])
    budget = move - departure

    valid = (j >= c) & (budget > 0)
    if not valid.any():
        return 0.0, 0, 0.0
    score = np.where(valid, budget / (j + _ARNOLDI_OVERHEAD), -np.inf)
    best_c, best_j = np.unravel_index(np.argmax(score), score.shape)

    radius = float(size[c[best_c, 0] - 1] + move[best_c, best_j])
    count = int(np.count_nonzero(size <= radius))
    return radius, count, float(budget[best_c, best_j])


def _has_repeated(values):
    """Whether two eigenvalues agree to `_REPEATED_RTOL` of their size."""
    if values.size < 2:
        return False
    gaps = np.abs(values[:, None] - values[None, :])
    np.fill_diagonal(gaps, np.inf)
    scale = np.maximum(np.abs(values)[:, None], np.finfo(float).tiny)

    return bool(np.any(gaps <= _REPEATED_RTOL * scale))


def _norm_bound(matrix):
    """An upper bound of ``|matrix|_2``: the smaller of the Frobenius norm
    and ``sqrt(|M|_1 |M|_inf)`` (Hoelder), exact for a diagonal matrix."""
    magnitude = abs(matrix)
    frobenius = (
        float(np.sqrt((magnitude.multiply(magnitude)).sum()))
        if sp.issparse(matrix)
        else float(np.linalg.norm(matrix))
    )
    columns = float(np.max(np.asarray(magnitude.sum(axis=0)), initial=0.0))
    rows = float(np.max(np.asarray(magnitude.sum(axis=1)), initial=0.0))

    return min(frobenius, float(np.sqrt(columns * rows)))


def _departure(jac, values):
    """Henrici's departure from normality ``sqrt(|J|_F^2 - sum |lambda|^2)``.

    It is the Frobenius norm of the strictly triangular part N of a Schur
    form ``J = Q (D + N) Q^H``, so J is ``Q D Q^H``, a normal matrix with
    the same eigenvalues, plus a perturbation of 2-norm at most this
    (Henrici 1962).  The rounding errors of the subtraction are added.
    """
    frobenius2 = float(np.sum(np.abs(jac.toarray() if sp.issparse(jac) else jac) ** 2))
    excess = frobenius2 - float(np.sum(np.abs(values) ** 2))
    rounding = _DEPARTURE_ULPS * values.size * np.finfo(float).eps * frobenius2

    return float(np.sqrt(max(excess, 0.0) + rounding))


def _near_zero(lu, tangent, k, v0):
    """The k eigenvalues of f_x nearest 0 by shift-invert Arnoldi, or None.

    Parameters
    ----------
    lu : Factorization
        LU factors of ``B = [[f_x, f_p], [r^T]]``.
    tangent : ndarray, shape (n + 1,)
        ``(v, mu)`` with ``B (v, mu)`` proportional to e_{n+1}.
    k : int
    v0 : ndarray, shape (n,)
        Arnoldi start vector.

    Returns
    -------
    ndarray of complex, shape (k,), or None
        None when f_x is singular at the point (``mu = 0``) or ARPACK did not
        converge.
    """
    n = tangent.size - 1
    v, mu = tangent[:n], tangent[n]
    if mu == 0 or not np.isfinite(mu):
        return None

    def apply_inverse(r):
        z = lu.solve(np.append(r, 0.0))
        return z[:n] - (z[n] / mu) * v

    operator = spla.LinearOperator((n, n), matvec=apply_inverse, dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            theta = spla.eigs(
                operator,
                k=k,
                which="LM",
                v0=v0,
                tol=_ARNOLDI_TOL,
                return_eigenvectors=False,
            )
    except spla.ArpackNoConvergence:
        return None
    if not np.all(np.isfinite(theta)) or np.any(theta == 0):
        return None

    return 1.0 / theta


def eigenvalue_near(jac, target):
    """The eigenvalue of `jac` nearest `target` by inverse iteration, or None.

    One complex LU factorisation of ``jac - target I``, then inverse
    iteration with Rayleigh quotients until the residual ``|J v - lambda v|``
    is at rounding level (Wilkinson 1965, ch. 9; Golub and Van Loan, 7.6.1).
    A good `target` (a followed eigenvalue's predicted value) needs a handful
    of solves.

    Parameters
    ----------
    jac : ndarray or sparse matrix, shape (n, n)
    target : complex

    Returns
    -------
    complex or None
        None when the shifted matrix is singular to working precision or the
        iteration does not settle within `_INVERSE_STEPS` solves.
    """
    n = jac.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            solve = _complex_solver(jac, target, _shifted(jac, target))
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            return None

    vector = np.random.default_rng(_ARNOLDI_SEED).standard_normal(n) + 0j
    vector /= np.linalg.norm(vector)
    tolerance = _INVERSE_TOL * _norm_one(jac)

    for _ in range(_INVERSE_STEPS):
        image = solve(vector)
        length = np.linalg.norm(image)
        if not np.isfinite(length) or length == 0:
            return None
        vector = image / length

        # Real and imaginary parts apart: no complex copy of a real matrix.
        product = jac @ vector.real + 1j * (jac @ vector.imag)
        value = complex(np.vdot(vector, product))
        if np.linalg.norm(product - value * vector) <= tolerance:
            return value

    return None


def _shifted(jac, target):
    """``jac - target I`` for a sparse `jac` (complex CSC), else None."""
    if not sp.issparse(jac):
        return None
    identity = sp.identity(jac.shape[0], format="csc")

    return (jac.astype(complex) - target * identity).tocsc()


def _complex_solver(jac, target, shifted):
    """A solve with ``jac - target I`` (complex LU), as a function."""
    if shifted is not None:
        return spla.splu(shifted).solve

    matrix = np.array(jac, dtype=complex)
    matrix.flat[:: jac.shape[0] + 1] -= target
    factors = scipy.linalg.lu_factor(matrix, overwrite_a=True, check_finite=False)

    return lambda rhs: scipy.linalg.lu_solve(factors, rhs, check_finite=False)


def _norm_one(jac):
    """Largest column sum of ``|jac|``."""
    column_sums = abs(jac).sum(axis=0)
    return float(np.max(np.asarray(column_sums), initial=0.0))
