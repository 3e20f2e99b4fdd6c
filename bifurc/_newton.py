"""Newton's method: rest points at a fixed parameter and the bordered corrector.

The corrector of pseudo-arclength continuation (Keller 1977) solves

    f(x, p) = 0,
    r . (y - y_prev) = ds,          y = (x, p),

where ``r`` is the weighted tangent at the previous point.  It starts with the
factorisation left by the previous point (a chord iteration) and refactorises
only when the iterates stop contracting, so that a typical continuation step
costs one LU factorisation: the one at the converged point, which also gives
the new tangent and the test functions.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import scipy.sparse as sp

from ._errors import InputError, UserFunctionError
from ._linalg import SparseOrdering, factorize, factorize_bordered

__all__ = ["Evaluator", "StepError", "Correction", "correct", "find_equilibrium"]

logger = logging.getLogger(__name__)

# A quasi-Newton iteration that shrinks the update by less than this factor
# is not worth continuing with an old factorisation: refactorise there.
_CONTRACTION = 0.5

# The error estimate from the contraction is trusted below this contraction,
# for updates already within this multiple of the tolerance, and only
# between two steps made with the same factorisation.
_ESTIMATE_CONTRACTION = 0.5
_ESTIMATE_REACH = 1e3

# Broyden updates kept before a new factorisation, and the smallest safe
# denominator of the Sherman-Morrison form of an update.
_MAX_UPDATES = 20
_BROYDEN_DENOMINATOR = 0.1

# With a fresh factorisation, an update growing by this factor means Newton is
# diverging (too large a step, or a point near a singularity).
_DIVERGENCE = 2.0

# Updates below this multiple of the tolerance are rounding noise, whatever
# their trend.
_NOISE_FACTOR = 1e3

# Values beyond this size are treated as overflow (the next products would
# be inf, and every digit of the test functions is noise before that).
_HUGE = 1e100

# Besides a small update, convergence needs the residual to have dropped by
# this factor from the predictor's (or to be below the tolerance): a small
# update can hide a large residual when a variable is badly scaled.
_RESIDUAL_DROP = 1e-6

# Newton at a fixed parameter: backtracking halvings of the update before
# accepting whatever the last one gives.
_MAX_HALVINGS = 8


class StepError(Exception):
    """A trial point could not be evaluated or corrected.

    Attributes
    ----------
    kind : str
        ``"non_finite"``, ``"user_error"``, ``"diverged"`` or ``"singular"``.
    """

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Evaluator:
    """Evaluates a `System` on ``y = (x, p_k)`` with counters and fault checks.

    Parameters
    ----------
    system : System
    k : int or None
        Index of the continued parameter (None: no parameter is varied).
    p_fixed : ndarray, shape (m,)
        The other parameters (entry k is overwritten on every call).

    Attributes
    ----------
    counts : dict
        Numbers of evaluations of f, of the Jacobian and of factorisations.
    ordering : SparseOrdering or None
        The fill-reducing order of sparse Jacobians (None when dense).
    """

    def __init__(self, system, k, p_fixed):
        self.system = system
        self.k = k
        self.p_fixed = np.array(p_fixed, dtype=float)
        self.n = system.n
        self.sparse = bool(system.sparse)
        self.counts = {"f": 0, "jacobian": 0, "lu": 0}
        # Sparse Jacobians keep one fill-reducing order for the whole run.
        self.ordering = SparseOrdering() if self.sparse else None

        self._last = np.zeros(self.n + 1)
        self._last[-1] = 1.0

    def params(self, pk):
        """Full parameter vector with the continued entry set to `pk`."""
        p = self.p_fixed.copy()
        if self.k is not None:
            p[self.k] = pk

        return p

    def call(self, func, y, what):
        """Call a user function, turning its exceptions into a StepError."""
        try:
            return func(y[:-1], self.params(y[-1]))
        except InputError:
            raise
        except Exception as exc:
            detail = f"{what} raised {type(exc).__name__}: {exc}"
            if isinstance(exc, UserFunctionError):
                detail = str(exc)
            raise StepError("user_error", f"{detail} ({self.where(y)})") from exc

    def where(self, y):
        """Where the continued parameter is, for messages."""
        if self.k is None:
            return f"x = {np.array2string(y[:-1], threshold=6)}"
        name = self.system.parameters[self.k]

        return f"{name} = {y[-1]:.12g}"

    def _check_finite(self, values, y, what, names=None):
        """Raise a StepError naming the first non-finite (or overflowing) entry.

        `names` maps a flat index to a description (default: the variable
        of that component).
        """
        if np.all(np.abs(values) <= _HUGE):
            return
        bad = int(np.flatnonzero(~(np.abs(values) <= _HUGE))[0])
        where = names(bad) if names else f"component {self.system.variables[bad]!r}"

        raise StepError(
            "non_finite", f"{what} returned {values[bad]} in {where} at {self.where(y)}"
        )

    def _jacobian_entry(self, jac):
        """Describe flat index i of `jac` by its row's and column's variables."""
        names = self.system.variables
        if sp.issparse(jac):
            coo = jac.tocoo()
            rows, cols = coo.row, coo.col
        else:
            rows, cols = np.divmod(np.arange(jac.size), jac.shape[1])

        return lambda i: f"entry d f[{names[rows[i]]!r}] / d {names[cols[i]]!r}"

    def f(self, y):
        """f(x, p) at y = (x, p_k), shape (n,)."""
        self.counts["f"] += 1
        value = np.asarray(self.call(self.system.rhs, y, "f"), dtype=float)
        if value.shape != (self.n,):
            raise InputError(
                f"f(x, p) must return shape ({self.n},), got {value.shape}"
            )

        self._check_finite(value, y, "f")
        return value

    def jacobian(self, y):
        """f_x at y (dense ndarray or sparse matrix) and f_p_k, shape (n,)."""
        self.counts["jacobian"] += 1
        system, k = self.system, self.k
        jac = self.call(system.fx, y, "the Jacobian")
        fp = self.call(lambda x, p: system.fp(x, p, k), y, "the parameter derivative")

        if sp.issparse(jac):
            values = jac.tocoo().data
        else:
            jac = np.asarray(jac, dtype=float)
            values = jac.reshape(-1)

        if not np.all(np.abs(values) <= _HUGE):
            self._check_finite(values, y, "the Jacobian", self._jacobian_entry(jac))
        fp = np.asarray(fp, dtype=float).reshape(-1)
        self._check_finite(fp, y, "the parameter derivative")

        return jac, fp

    def factor(self, jac, fp, row):
        """Factorise the bordered matrix [[f_x, f_p], [row]]."""
        self.counts["lu"] += 1
        return factorize_bordered(jac, fp, row, self.ordering)

    def tangent(self, lu):
        """Solution of ``B z = e_{n+1}``: a tangent with ``row . z = 1``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return lu.solve(self._last)


@dataclasses.dataclass
class Correction:
    """Outcome of the bordered corrector.

    Attributes
    ----------
    y : ndarray, shape (n + 1,)
        The converged point.
    iterations : int
    lu : Factorization or None
        A factorisation formed within `reuse` (weighted) of `y`, or None.
    residual : float
        Max-norm of f at the last iterate before the final update.
    """

    y: np.ndarray
    iterations: int
    lu: object
    residual: float


def correct(
    ev,
    y,
    anchor,
    row,
    target,
    lu,
    weights,
    *,
    tol,
    max_iter,
    reuse,
    reach,
    chord=False,
    polish=True,
):
    """Solve ``f(y) = 0, row . (y - anchor) = target`` by quasi-Newton steps.

    Parameters
    ----------
    ev : Evaluator
    y : ndarray, shape (n + 1,)
        The predictor.
    anchor, row : ndarray, shape (n + 1,)
    target : float
    lu : Factorization or None
        An old factorisation of a nearby bordered matrix to try first.
    weights : ndarray, shape (n + 1,)
        Squared weights of the norm in which updates are measured.
    tol : float
        Convergence when the weighted update is below `tol`.
    max_iter : int
    reuse : float
        Return the last factorisation when it was formed within this
        weighted distance of the solution.
    reach : float
        The solution must lie within this weighted distance of the
        predictor (a corrector that wanders further has left the branch).
    chord : bool
        Keep `lu` throughout (a pure chord iteration).  Next to a branch
        point, where the exact Jacobian is nearly singular and Newton's
        method amplifies rounding errors along its null vector, a nearby
        well-conditioned factorisation converges without that noise.
    polish : bool
        Confirm convergence with one Newton step from a factorisation at the
        converged point (the one the tangent needs anyway): quasi-Newton
        updates can be small while the residual is not, when the old
        factorisation is poor along a badly scaled direction.

    Returns
    -------
    Correction

    Raises
    ------
    StepError
        On divergence, a singular matrix or a fault in f.
    """
    start, previous, claimed, first = y, np.inf, False, np.inf
    quasi = _Broyden(lu, weights, ev, row, updates=not chord)
    for iteration in range(1, max_iter + 1):
        value = ev.f(y)
        rhs = np.append(-value, target - row @ (y - anchor))
        if not rhs.any():
            return Correction(y, iteration, None, 0.0)
        if claimed:
            quasi.reset()
        step, norm = quasi.step(y, rhs)

        y = y + step
        residual = float(np.max(np.abs(value), initial=0.0))
        first = residual if iteration == 1 else first
        last = previous if quasi.uses >= 2 and not claimed else np.inf
        small = _small(norm, last, tol) and residual <= max(_RESIDUAL_DROP * first, tol)
        small = small or _stagnant(norm, previous, tol, quasi)
        if small and (claimed or not polish):
            kept = quasi.lu if quasi.moved <= reuse else None
            return Correction(y, iteration, kept, residual)
        claimed = small

        trouble = _trouble(y, start, weights, reach, quasi.uses, norm, previous, tol)
        if trouble and (quasi.fresh or chord):
            raise StepError("diverged", f"{trouble} near {ev.where(y)}")
        if trouble:
            # The old factorisation misled the iteration: start again from
            # the predictor with a new one.
            y, previous, claimed = start, np.inf, False
            quasi.reset()
            continue
        if norm > _CONTRACTION * previous and not chord:
            quasi.reset()
        previous = norm

    raise StepError(
        "diverged", f"no convergence in {max_iter} iterations near {ev.where(y)}"
    )


class _Broyden:
    """Quasi-Newton steps on top of one factorisation of the bordered matrix.

    Broyden's good method with the inverse updates kept as the list of steps
    (Kelley 1995, "brsol"), in the weighted inner product: each step costs
    one solve with the factors plus O(k n) for k stored steps.  Without
    updates it is the chord method.  A missing or spent factorisation is
    replaced by a new one at the current iterate.
    """

    def __init__(self, lu, weights, ev, row, updates=True):
        self.ev, self.row, self.weights, self.updates = ev, row, weights, updates
        self.lu, self.fresh = lu, False
        self.steps, self.norms2 = [], []
        self.uses, self.moved = 0, np.inf

    def reset(self):
        """Drop the factorisation: the next step forms a new one."""
        self.lu = None

    def _refactor(self, y):
        self.lu = self.ev.factor(*self.ev.jacobian(y), self.row)
        self.fresh, self.steps, self.norms2 = True, [], []
        self.uses, self.moved = 0, 0.0

    def step(self, y, rhs):
        """The next step and its weighted norm; refactorises when needed."""
        if self.lu is None or len(self.steps) >= _MAX_UPDATES:
            self._refactor(y)
        step = self._solve(rhs)

        if step is None and not self.fresh:
            self._refactor(y)
            step = self._solve(rhs)

        if step is None:
            raise StepError(
                "singular", f"singular bordered matrix at {self.ev.where(y)}"
            )

        norm = float(np.sqrt(self.weights @ (step * step)))
        self.uses, self.moved = self.uses + 1, self.moved + norm
        if self.updates:
            self.steps.append(step)
            self.norms2.append(norm * norm)

        return step, norm

    def _solve(self, rhs):
        """Quasi-Newton step, or None if it is not finite or ill-conditioned."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            z = self.lu.solve(rhs)

        if not np.all(np.isfinite(z)):
            return None
        steps, norms2, w = self.steps, self.norms2, self.weights

        for j in range(len(steps) - 1):
            z = z + steps[j + 1] * ((steps[j] @ (w * z)) / norms2[j])
        if steps:
            denominator = 1.0 - (steps[-1] @ (w * z)) / norms2[-1]
            if abs(denominator) < _BROYDEN_DENOMINATOR:
                return None
            z = z / denominator

        return z


def _small(norm, previous, tol):
    """Whether the iterate is within `tol` of the solution.

    Either the last update was below `tol`, or, with the contraction
    ``q = norm / previous`` of a converging iteration, the distance left,
    about ``norm q / (1 - q)``, is (Deuflhard's error estimate).
    """
    if norm <= tol:
        return True
    if norm > _ESTIMATE_REACH * tol:
        return False
    q = norm / previous

    return q < _ESTIMATE_CONTRACTION and norm * q / (1 - q) <= tol


def _stagnant(norm, previous, tol, quasi):
    """Whether Newton steps from a new factorisation stall at rounding level.

    Next to a branch point, or where the terms of f are large, rounding
    errors amplified by the conditioning bound the attainable accuracy above
    `tol`; updates that stop shrinking below ``_NOISE_FACTOR * tol`` mark it.
    """
    return (
        quasi.fresh
        and quasi.uses >= 2
        and norm <= _NOISE_FACTOR * tol
        and norm > _CONTRACTION * previous
    )


def _trouble(y, start, weights, reach, uses, norm, previous, tol):
    """Why the iteration is failing (leaving the branch, diverging), or ''.

    Growth of updates at the level of rounding errors (next to a singular
    point) is not divergence: the iteration limit ends those.
    """
    offset = y - start
    if weights @ (offset * offset) > reach * reach:
        return "the corrector left the branch"

    if uses >= 2 and norm > _DIVERGENCE * previous and norm > _NOISE_FACTOR * tol:
        return "Newton diverged"
    return ""


def newton_fixed(ev, x, pk, *, tol=1e-10, max_iter=50):
    """Newton's method on f(x, p) = 0 at a fixed parameter value.

    Damped by backtracking on ``|f|``; falls back to a least-squares step when
    f_x is singular (dense systems).

    Parameters
    ----------
    ev : Evaluator
    x : ndarray, shape (n,)
    pk : float
        Value of the continued parameter.
    tol : float
        Convergence when the update is below ``tol * (1 + |x|)``.
    max_iter : int

    Returns
    -------
    x : ndarray, shape (n,)
    converged : bool
    residual : float
        Max-norm of f at the returned x.
    """
    y = np.append(np.asarray(x, dtype=float), pk)
    value = ev.f(y)
    first = float(np.max(np.abs(value), initial=0.0))

    for _ in range(max_iter):
        jac, _ = ev.jacobian(y)
        step = _fixed_step(jac, value, ev.ordering)
        y, value, norm = _backtrack(ev, y, step, value)
        residual = float(np.max(np.abs(value), initial=0.0))
        small = residual <= max(_RESIDUAL_DROP * first, tol)
        if norm <= tol * (1.0 + np.linalg.norm(y[:-1], np.inf)):
            return y[:-1], small, residual

    return y[:-1], False, float(np.max(np.abs(value), initial=0.0))


def _fixed_step(jac, value, ordering=None):
    """Newton update ``-f_x^{-1} f`` (minimum-norm least squares if singular)."""
    n = value.size
    if sp.issparse(jac):
        lu = factorize(jac if ordering is not None else jac.tocsc(), ordering)
    else:
        lu = factorize(np.array(jac, order="F"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        step = lu.solve(-value)

    if np.all(np.isfinite(step)) and np.linalg.norm(step) < 1e8 * (1 + n):
        return step
    dense = jac.toarray() if sp.issparse(jac) else np.asarray(jac)

    return np.linalg.lstsq(dense, -value, rcond=None)[0]


def _backtrack(ev, y, step, value):
    """Apply ``step`` (state part of y), halving it until |f| decreases."""
    norm0 = np.linalg.norm(value)
    scale = 1.0
    for _ in range(_MAX_HALVINGS):
        trial = y.copy()
        trial[:-1] += scale * step
        try:
            new = ev.f(trial)
        except StepError:
            scale *= 0.5
            continue
        if np.linalg.norm(new) < norm0 or scale < 2.0**-_MAX_HALVINGS + 1e-12:
            return trial, new, scale * float(np.linalg.norm(step, np.inf))
        scale *= 0.5

    trial = y.copy()
    trial[:-1] += scale * step
    return trial, ev.f(trial), scale * float(np.linalg.norm(step, np.inf))


def find_equilibrium(system, x0, p, *, tol=1e-10, max_iter=50):
    """Newton's method for a rest point f(x, p) = 0 at fixed parameters.

    Parameters
    ----------
    system : System
    x0 : array_like, shape (n,)
        Initial guess.
    p : array_like, shape (m,) or dict
        The full parameter vector, or a dict overriding the defaults.
    tol : float
        Relative tolerance on the Newton update.
    max_iter : int

    Returns
    -------
    x : ndarray, shape (n,)
    converged : bool
    residual : float
        Max-norm of f at `x`.

    Raises
    ------
    InputError
        For a badly shaped or non-finite `x0` or `p`.
    UserFunctionError
        When f raises at `x0` (chained, with x and p in the message).
    """
    x0 = system.check_state(x0)
    if isinstance(p, dict):
        p = system.parameter_vector(p)
    p = np.asarray(p, dtype=float).reshape(-1)

    if p.shape != (system.m,) or not np.all(np.isfinite(p)):
        raise InputError(f"p must be a finite vector of shape ({system.m},), got {p}")
    system.check_call(x0, p)

    k = 0 if system.m else None
    ev = Evaluator(system, k, p)
    try:
        return newton_fixed(
            ev, x0, p[0] if system.m else 0.0, tol=tol, max_iter=max_iter
        )
    except StepError as failure:
        logger.info("find_equilibrium stopped: %s", failure)
        return x0, False, float("nan")
