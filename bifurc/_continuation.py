"""Pseudo-arclength continuation of rest points in one parameter.

The loop reads like the algorithm (Keller 1977): predict along the tangent,
correct with Newton on the bordered system, accept or reject, evaluate the
test functions, locate what they flag, record, adapt the step.  Its cost per
step is one LU factorisation of the bordered matrix at the new point (which
gives the tangent and the branch-point and fold tests as well), one Jacobian
evaluation, and the stability count: the inertia of a symmetric Jacobian
(Sylvester), all eigenvalues of a small one, or the few rightmost of a large
one (Arnoldi).

Norms.  Steps and tangents are measured in the weighted norm

    |(dx, dp)|^2 = (1/n) sum_i (dx_i / sigma_i)^2 + dp^2,

an RMS over the state so that ``ds`` means the same for 2 or 2,000
variables, with ``sigma_i = max(1, |x_i|)`` at the current point (or fixed
user scales), so that variables of very different sizes advance together.

References
----------
Keller, H. B. (1977). Numerical solution of bifurcation and nonlinear
eigenvalue problems.  Doedel, E. J. Lecture notes on numerical analysis of
nonlinear equations (AUTO), sections on pseudo-arclength continuation and
step control.  Govaerts, W. (2000). Numerical Methods for Bifurcations of
Dynamical Equilibria.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import _detection
from ._errors import ConvergenceError, InputError
from ._linalg import inertia, rightmost_eigenvalues
from ._newton import Evaluator, StepError, correct, newton_fixed
from ._results import Branch, SpecialPoint
from ._spectrum import DENSE_EIGENVALUES_MAX as _DENSE_EIG_MAX
from ._spectrum import SpectrumTracker, eigenvalue_near
from ._status import Status

__all__ = ["ContinuationOptions", "continuation", "stability"]

logger = logging.getLogger(__name__)

# Full eigenvalues at every point up to these sizes.  Symmetric systems above
# it use the inertia (eigvalsh costs 7 LU factorisations at n = 100, the
# inertia one), recomputed only where det f_x changes sign ("parity").
# General matrices above it track the eigenvalues near the imaginary axis by
# shift-invert Arnoldi on the bordered factorisation (`SpectrumTracker`):
# benchmarks/eigenvalue_costs.py measured eight eigenvalues at 0.9 ms against
# 2.1 ms for all of them at n = 100, 1.8 against 9.3 ms at n = 200, 5.1
# against 74 ms at n = 500; a whole branch at n = 100 ran faster with all
# eigenvalues (Python's overhead per Arnoldi iteration and references), so
# the crossover is put above that.
_FULL_EIG_MAX_SYMMETRIC = 64
_FULL_EIG_MAX_GENERAL = 128


# In ``"parity"`` mode the inertia is recomputed at least every this many
# points even when det f_x keeps its sign: a guard against two eigenvalues
# crossing zero unseen (at n = 500 the inertia costs 0.8 LU factorisations,
# so this adds about 0.16 per point).
_PARITY_REFRESH = 5

# Step-size factors from the number of corrector iterations (chord iterations
# are cheap, so up to five are a good step) ...
_ITERATION_FACTORS = (2.0, 2.0, 2.0, 2.0, 2.0, 1.5, 1.2, 1.0, 1.0, 0.8)
# ... bounded so that one step never more than doubles or halves the next.
_GROW_MAX, _SHRINK = 2.0, 0.5


# The corrector of located points is run to this (weighted) tolerance, or to
# the looser one where the bordered matrix is too close to singular (next to
# a branch point) for rounding errors to allow it.
_LOCATE_NEWTON_TOL = 1e-12
_LOCATE_LOOSE_TOL = 1e-9
_LOCATE_MAX_NEWTON = 30

# A bordered matrix whose tangent solution exceeds this size is singular:
# the start point is a branch point or the rest points are not isolated.
_SINGULAR_TANGENT = 1e10

# Relative size below which a singular value of [f_x, f_p] counts as zero.
_RANK_RTOL = 1e-8

# Dense systems up to this size get the start tangent from an SVD.
_SVD_START_MAX = 400

# Distance of the probe point used to tell an isolated singular start from a
# Jacobian singular everywhere (relative to the size of the start point).
_PROBE_DISTANCE = 1e-3

# Fraction of the last step within which the start point must lie for the
# branch to count as closed.
_CLOSED_FRACTION = 0.25

# Parameter values within this relative distance of a bound are on it.
_BOUND_RTOL = 1e-13

_DIRECTIONS = ("both", "forward", "backward")
_STABILITY_MODES = ("auto", "eigenvalues", "inertia", "parity", "arnoldi", "none")
_LABELS = ("LP", "BP", "H")

# Run statuses from the most to the least serious, to summarise two halves
# or several branches; any other status ranks with FAILED.
_SEVERITY = (
    Status.INTERRUPTED,
    Status.FAILED,
    Status.USER_ERROR,
    Status.NON_FINITE,
    Status.DEGENERATE,
    Status.STEP_TOO_SMALL,
    Status.MAX_STEPS,
    Status.CLOSED,
    Status.REACHED_BOUND,
    Status.SUCCESS,
)


def severity(status):
    """Rank of a status, 0 for the most serious (see `_SEVERITY`)."""
    return _SEVERITY.index(status) if status in _SEVERITY else 1


@dataclasses.dataclass(frozen=True)
class ContinuationOptions:
    """Settings of a continuation run, validated on construction.

    Attributes
    ----------
    ds : float
        First step (weighted arclength).  A negative value swaps the meaning
        of ``direction="forward"`` and ``"backward"``.
    ds_min, ds_max : float
        Bounds of the adaptive step; below `ds_min` the run stops.
    max_steps : int
        Maximum number of accepted steps in each direction.
    direction : str
        ``"both"`` (default), ``"forward"`` (increasing parameter at the
        start) or ``"backward"``.
    detect : tuple of str
        Special points to detect, from ``("LP", "BP", "H")``.
    newton_tol : float
        Corrector tolerance on the weighted update.
    max_newton : int
        Corrector iterations per step before the step is rejected.
    locate_tol : float
        Relative tolerance on the parameter of located special points.
    max_angle : float
        Largest angle (radians) between successive tangents; larger steps are
        rejected.
    target_angle : float
        Angle the step control aims at.
    stability : str
        ``"auto"``, ``"eigenvalues"`` (all, every point), ``"inertia"``
        (symmetric systems: an LDL^T factorisation at every point),
        ``"parity"`` (symmetric systems: the inertia only where the sign of
        det f_x changes, and every few points; the default for symmetric
        systems above 64 variables), ``"arnoldi"`` (the eigenvalues near
        the imaginary axis by shift-invert Arnoldi on the corrector's
        factorisation, all of them only at reference points; the default for
        other systems above 128 variables) or ``"none"``.
    n_eigenvalues : int
        How many rightmost eigenvalues Arnoldi computes first at the
        reference points of systems above 600 variables in ``"arnoldi"``
        mode (doubled until they reach well left of the axis).
    state_scale : str or tuple of float
        ``"auto"`` (``max(1, |x_i|)``) or one positive scale per variable.
    max_subdivisions : int
        Times a step is halved when the test functions disagree with the
        change in the unstable count.
    verbose : int
        0 quiet, 1 special points and the end of each run, 2 every step
        (logged with the ``logging`` module at INFO and DEBUG).
    progress : bool
        Show a progress bar (needs tqdm).
    """

    ds: float = 0.01
    ds_min: float = 1e-9
    ds_max: float = 0.1
    max_steps: int = 2000
    direction: str = "both"
    detect: tuple = _LABELS
    newton_tol: float = 1e-10
    max_newton: int = 12
    locate_tol: float = 1e-10
    max_angle: float = 0.5
    target_angle: float = 0.15
    stability: str = "auto"
    n_eigenvalues: int = 8
    state_scale: object = "auto"
    max_subdivisions: int = 6
    verbose: int = 0
    progress: bool = False

    def __post_init__(self):
        _check_steps(self)
        _check_choices(self)
        _check_counts(self)

    @property
    def step(self):
        """The first step's size, ``|ds|``."""
        return abs(self.ds)


def _positive(name, value):
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")

    return value


def _check_steps(options):
    ds = float(options.ds)
    if ds == 0 or not math.isfinite(ds):
        raise InputError(f"ds must be a nonzero finite number, got ds = {options.ds!r}")

    for name in ("ds_min", "ds_max", "newton_tol", "locate_tol"):
        _positive(name, getattr(options, name))
    if not options.ds_min <= abs(ds) <= options.ds_max:
        raise InputError(
            f"the step sizes must satisfy ds_min <= |ds| <= ds_max, got "
            f"ds_min = {options.ds_min}, ds = {ds}, ds_max = {options.ds_max}"
        )

    if not 0 < options.target_angle <= options.max_angle < math.pi / 2:
        raise InputError(
            "angles must satisfy 0 < target_angle <= max_angle < pi/2, got "
            f"target_angle = {options.target_angle}, max_angle = {options.max_angle}"
        )


def _check_choices(options):
    if options.direction not in _DIRECTIONS:
        raise InputError(
            f"direction must be one of {_DIRECTIONS}, got {options.direction!r}"
        )

    if options.stability not in _STABILITY_MODES:
        raise InputError(
            f"stability must be one of {_STABILITY_MODES}, got {options.stability!r}"
        )
    detect = (options.detect,) if isinstance(options.detect, str) else options.detect
    unknown = [label for label in detect if label not in _LABELS]

    if unknown:
        raise InputError(f"detect may contain only {_LABELS}, got {unknown}")
    object.__setattr__(options, "detect", tuple(detect))
    scale = options.state_scale

    if isinstance(scale, str) and scale != "auto":
        raise InputError(
            f"state_scale must be 'auto' or positive numbers, got {scale!r}"
        )

    if not isinstance(scale, str):
        values = np.asarray(scale, dtype=float).reshape(-1)
        if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
            raise InputError(f"state_scale must be positive numbers, got {scale!r}")
        object.__setattr__(options, "state_scale", tuple(values.tolist()))


def _check_counts(options):
    for name in ("max_steps", "max_newton", "n_eigenvalues"):
        value = getattr(options, name)
        if not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")

    if options.max_subdivisions < 0:
        raise InputError(
            f"max_subdivisions must be >= 0, got {options.max_subdivisions!r}"
        )


def make_options(options=None, **knobs):
    """Options from an optional base and keyword overrides (None = keep)."""
    base = options if options is not None else ContinuationOptions()
    if not isinstance(base, ContinuationOptions):
        raise InputError(
            f"options must be a ContinuationOptions, got {type(base).__name__}"
        )
    changes = {key: value for key, value in knobs.items() if value is not None}

    return dataclasses.replace(base, **changes) if changes else base


# ----------------------------------------------------------------------
# Points


class _Point:
    """An accepted (or trial) point with what the corrector left behind."""

    __slots__ = (
        "y",
        "tangent",
        "lu",
        "row",
        "weights",
        "jac",
        "s",
        "n_unstable",
        "eigenvalues",
        "values",
        "problem",
        "chord",
        "carried_for",
        "reference",
    )

    def __init__(self, problem, y, tangent, lu, row, weights, jac):
        self.problem = problem
        self.y, self.tangent, self.lu, self.row = y, tangent, lu, row
        self.weights, self.jac = weights, jac
        self.s = 0.0
        self.n_unstable, self.eigenvalues = -1, None
        self.values = ()

        self.chord = True
        self.carried_for = 0
        self.reference = None

    @property
    def bp_sign(self):
        """Sign of det [[f_x, f_p], [t^T]] with t the oriented tangent."""
        return self.lu.det_sign * (1 if self.row @ self.tangent > 0 else -1)

    @property
    def fx_sign(self):
        """Sign of det f_x: det [[f_x, f_p], [r^T]] = det(f_x) (r . t) / t_p."""
        t_p = self.tangent[-1]
        return self.bp_sign * (1 if t_p > 0 else -1) if t_p != 0 else 0

    @property
    def border(self):
        """The bordering row of the next step: the weighted tangent."""
        return self.weights * self.tangent

    def flipped(self):
        """The same point with the opposite orientation."""
        other = _Point(
            self.problem,
            self.y,
            -self.tangent,
            self.lu,
            self.row,
            self.weights,
            self.jac,
        )

        other.n_unstable, other.eigenvalues = self.n_unstable, self.eigenvalues
        other.chord, other.carried_for = self.chord, self.carried_for
        other.reference = self.reference
        other.values = self.problem.test_values(other)

        return other

    def all_eigenvalues(self, near=None):
        """All eigenvalues of f_x here (or, for large systems, those near `near`)."""
        return self.problem.all_eigenvalues(self, near)

    def eigenvalues_near(self, target):
        """A few eigenvalues of f_x here, those nearest `target` (complex)."""
        return self.problem.eigenvalues_near(self, target)


class _Stability:
    """How the number of unstable eigenvalues is computed at each point."""

    def __init__(self, system, mode, n_eigenvalues):
        self.system = system
        self.symmetric = bool(system.gradient or system.symmetrizer is not None)
        self.mode = self._resolve(system, mode)
        self.tracker = SpectrumTracker(system.n, n_eigenvalues)

    def _resolve(self, system, mode):
        if mode != "auto":
            if mode in ("inertia", "parity") and not self.symmetric:
                raise InputError(
                    f"stability={mode!r} needs a symmetric Jacobian (gradient=True "
                    "or a symmetrizer); use 'eigenvalues' or 'arnoldi'"
                )
            return mode

        if self.symmetric:
            small = system.n <= _FULL_EIG_MAX_SYMMETRIC and not system.sparse
            return "eigenvalues" if small else "parity"
        small = system.n <= _FULL_EIG_MAX_GENERAL and not system.sparse

        return "eigenvalues" if small else "arnoldi"

    @property
    def needs_jacobian(self):
        own = self.system.symmetrizer is not None and self.mode != "arnoldi"
        return self.mode != "none" and not own

    def carried(self, previous, point):
        """The previous count, in ``"parity"`` mode when det f_x kept its sign.

        An odd number of real eigenvalues crossing zero flips the sign of
        det f_x, known from the bordered factorisation at no cost; only then,
        at the start, and every `_PARITY_REFRESH` points is the inertia
        recomputed.  Two crossings within those points go unseen in this
        mode until the next recomputation.
        """
        if self.mode != "parity" or previous is None or previous.n_unstable < 0:
            return None
        if previous.carried_for + 1 >= _PARITY_REFRESH:
            return None
        sign = point.fx_sign

        return previous.n_unstable if sign != 0 and sign == previous.fx_sign else None

    def evaluate(self, ev, y, jac, point=None, previous=None):
        """``(n_unstable, eigenvalues or None)`` at y.

        In ``"arnoldi"`` mode a `point` whose bordered factorisation and
        tangent are known is tracked from the reference of `previous`
        (see `SpectrumTracker`), and keeps its own reference.
        """
        if self.mode == "none":
            return -1, None
        if self.mode == "arnoldi":
            return self._tracked(jac, point, previous)
        matrix = jac

        own = self.system.symmetrizer is not None
        if own:
            matrix = ev.call(self.system.symmetrizer, y, "the symmetrizer")
        if self.mode in ("inertia", "parity"):
            # A fresh symmetrizer may be overwritten by the factorisation.
            return inertia(matrix, ev.ordering, overwrite=own)[0], np.empty(0)

        values = _dense_eigenvalues(matrix, self.symmetric)

        return int(np.count_nonzero(values.real > 0)), values

    def _tracked(self, jac, point, previous):
        lu = tangent = reference = None
        if point is not None:
            lu, tangent = point.lu, point.tangent
        if previous is not None:
            reference = previous.reference
        count, values, reference = self.tracker.evaluate(jac, lu, tangent, reference)

        if point is not None:
            point.reference = reference
        return count, values


def _dense_eigenvalues(matrix, symmetric):
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    if symmetric:
        return scipy.linalg.eigvalsh(dense, check_finite=False)

    return scipy.linalg.eigvals(dense, check_finite=False)


# ----------------------------------------------------------------------
# The problem: a system, a parameter, an interval and the options


class _Problem:
    """Everything a run needs, validated: the evaluator, tests and stability."""

    def __init__(self, system, param, p_range, p0, params, options):
        self.system, self.options = system, options
        self.k = system.param_index(param)
        self.param = system.parameters[self.k]
        self.p_fixed = system.parameter_vector(params)
        self.lo, self.hi = _check_range(p_range)
        self.p0 = self._start_value(p0)

        self.p_fixed[self.k] = self.p0
        self.n = system.n
        self.scale = _check_scale(options.state_scale, system)

        self.evaluator = Evaluator(system, self.k, self.p_fixed)
        self.stability = _Stability(system, options.stability, options.n_eigenvalues)
        self.tests = _detection.make_tests(options.detect, self.stability.symmetric)
        self._last = np.zeros(self.n + 1)
        self._last[-1] = 1.0

    def _start_value(self, p0):
        value = self.p_fixed[self.k] if p0 is None else p0
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"p0 must be a number, got {p0!r}") from None

        if not math.isfinite(value):
            raise InputError(f"p0 must be finite, got {self.param} = {value}")
        width = _BOUND_RTOL * max(1.0, abs(self.lo), abs(self.hi))

        if not self.lo - width <= value <= self.hi + width:
            raise InputError(
                f"the start value {self.param} = {value:g} is outside the range "
                f"[{self.lo:g}, {self.hi:g}]; pass p0 inside it or widen p_range"
            )

        return min(max(value, self.lo), self.hi)

    def move_start(self, value):
        """Set a new start value of the parameter (inside the range)."""
        self.p0 = self._start_value(value)
        self.p_fixed[self.k] = self.p0
        self.evaluator.p_fixed[self.k] = self.p0

    def weights(self, y):
        """Squared weights of the norm at y, shape (n + 1,)."""
        sigma = self.scale if self.scale is not None else np.abs(y[:-1])
        weights = np.empty(self.n + 1)
        weights[:-1] = 1.0 / (self.n * np.maximum(sigma, 1.0) ** 2)
        weights[-1] = 1.0

        return weights

    def make_point(
        self,
        y,
        row,
        lu=None,
        tangent=None,
        fallback=None,
        previous=None,
        stability=True,
    ):
        """The point at y with tangent, tests and stability.

        Parameters
        ----------
        y : ndarray, shape (n + 1,)
            A converged point.
        row : ndarray, shape (n + 1,)
            The bordering row (orients the tangent: ``row . t > 0``).
        lu : Factorization or None
            A factorisation formed at y with `row`, if the corrector left one.
        tangent : ndarray, shape (n + 1,), optional
            A known tangent (start points), used instead of the solve.
        fallback : ndarray, shape (n + 1,), optional
            Tangent to use when the bordered matrix is exactly singular
            (a located point that hit a branch point).
        previous : point, optional
            The previous point of the run, whose unstable count the
            ``"parity"`` stability mode carries over and whose reference
            spectrum the ``"arnoldi"`` mode tracks.
        stability : bool
            Compute the unstable count and eigenvalues (points inside a step,
            made only to locate a special point, go without: -1 and None).
        """
        ev, jac = self.evaluator, None
        if lu is None:
            jac, fp = ev.jacobian(y)
            lu = ev.factor(jac, fp, row)
        weights = self.weights(y)
        z = ev.tangent(lu) if tangent is None else tangent
        solved = tangent is None

        norm = math.sqrt(weights @ (z * z))

        if not math.isfinite(norm) or norm == 0:
            if fallback is None:
                raise StepError(
                    "singular", f"singular bordered matrix at {ev.where(y)}"
                )
            z, solved = fallback, False
            norm = math.sqrt(weights @ (z * z))

        point = _Point(self, y, z / norm, lu, row, weights, jac)
        if stability:
            self._stability(point, previous, solved)
        point.values = self.test_values(point)

        return point

    def _stability(self, point, previous, solved):
        """Set the unstable count and eigenvalues of a new point."""
        ev, y, jac = self.evaluator, point.y, point.jac
        carried = self.stability.carried(previous, point)
        if carried is None:
            if jac is None and self.stability.needs_jacobian:
                jac = point.jac = ev.jacobian(y)[0]
            point.n_unstable, point.eigenvalues = self.stability.evaluate(
                ev, y, jac, point if solved else None, previous
            )
        else:
            point.n_unstable, point.eigenvalues = carried, np.empty(0)
            point.carried_for = previous.carried_for + 1

    def test_values(self, point):
        return tuple(test.value(point) for test in self.tests)

    def point_at(self, left, right, sigma, length, anchor_lu=None):
        """The branch point at arclength `sigma` from `left` (for location).

        The predictor is the cubic Hermite interpolant of the two ends and
        their tangents (exact on a parabola), so that near a branch point the
        corrector does not fall onto the crossing branch.
        """
        if sigma == length:
            return right
        row = right.row
        fraction = sigma / length
        between = (1 - fraction) * left.tangent + fraction * right.tangent

        if sigma == 0:
            return self.make_point(left.y, row, fallback=between, stability=False)

        guess = _hermite(
            left.y,
            left.tangent,
            right.y,
            right.tangent / (row @ right.tangent),
            length,
            fraction,
        )

        fix = self._locate_correct(guess, left, row, sigma, length, anchor_lu)
        if fix is None:
            # The predictor sits on a branch point to rounding error.
            return self.make_point(guess, row, fallback=between, stability=False)

        return self.make_point(fix.y, row, fix.lu, fallback=between, stability=False)

    def _locate_correct(self, guess, left, row, sigma, length, anchor_lu):
        """Correct a located point: Newton; where rounding errors stop it next
        to a branch point, a chord iteration with the left end's
        factorisation (which does not amplify them); then Newton to a looser
        tolerance."""
        attempts = [(None, False, _LOCATE_NEWTON_TOL)]
        attempts += [(anchor_lu, True, _LOCATE_NEWTON_TOL)] if anchor_lu else []
        attempts += [(None, False, _LOCATE_LOOSE_TOL)]

        for lu, chord, tol in attempts:
            try:
                return correct(
                    self.evaluator,
                    guess,
                    left.y,
                    row,
                    sigma,
                    lu,
                    left.weights,
                    tol=tol,
                    max_iter=_LOCATE_MAX_NEWTON,
                    reuse=tol,
                    reach=length,
                    chord=chord,
                    polish=False,
                )
            except StepError as failure:
                if failure.kind == "singular":
                    return None
                last = failure

        raise last

    def all_eigenvalues(self, point, near=None):
        """All eigenvalues at a point (those nearest `near` for large systems)."""
        # The stability step may already hold the whole spectrum of this point.
        stored = point.eigenvalues
        if near is None and stored is not None and len(stored) == self.n:
            return stored

        ev = self.evaluator
        jac = point.jac if point.jac is not None else ev.jacobian(point.y)[0]
        if self.n <= _DENSE_EIG_MAX:
            return _dense_eigenvalues(jac, False)

        if near is None:
            return rightmost_eigenvalues(jac, min(self.options.n_eigenvalues, self.n))
        k = min(6, self.n - 2)

        return spla.eigs(jac, k=k, sigma=near, return_eigenvectors=False)

    def eigenvalues_near(self, point, target):
        """The eigenvalue nearest `target` (complex), by inverse iteration.

        Small systems, and any where the iteration fails, get all
        eigenvalues.
        """
        if self.n <= _FULL_EIG_MAX_GENERAL:
            return self.all_eigenvalues(point)
        ev = self.evaluator
        jac = point.jac if point.jac is not None else ev.jacobian(point.y)[0]

        value = eigenvalue_near(jac, target)
        if value is None:
            logger.debug("no eigenvalue near %s by inverse iteration", target)
            return self.all_eigenvalues(point)

        return np.array([value, value.conjugate()])


def _hermite(y0, d0, y1, d1, length, fraction):
    """Cubic Hermite interpolant at `fraction` of an interval of `length`."""
    t = fraction
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t * t * (3 - 2 * t)
    h11 = t * t * (t - 1)

    return h00 * y0 + h10 * length * d0 + h01 * y1 + h11 * length * d1


def _check_range(p_range):
    try:
        lo, hi = (float(v) for v in p_range)
    except (TypeError, ValueError):
        raise InputError(
            f"p_range must be two numbers (a, b), got {p_range!r}"
        ) from None

    if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        raise InputError(
            f"p_range must be two distinct finite numbers, got {p_range!r}"
        )

    return min(lo, hi), max(lo, hi)


def _check_scale(scale, system):
    if isinstance(scale, str):
        return None
    values = np.asarray(scale, dtype=float)

    if values.size == 1:
        values = np.full(system.n, values.item())
    if values.shape != (system.n,):
        raise InputError(
            f"state_scale needs one value per variable ({system.n}), got {values.size}"
        )

    return values


# ----------------------------------------------------------------------
# The start point


def _start_point(problem, x0):
    """Correct x0 to a rest point and find the start tangent.

    Returns
    -------
    point : _Point or None
        None when the rest points are not isolated (see `Status.DEGENERATE`).
    correction : float
        Max-norm of the change Newton made to x0.
    """
    x = _corrected_start(problem, x0)
    correction = float(np.max(np.abs(x - x0), initial=0.0))
    y = np.append(x, problem.p0)
    tangent, regular = _start_tangent(problem, y)

    if tangent is None:
        return None, correction

    tangent = _increasing(tangent)
    weights = problem.weights(y)
    row = weights * tangent / math.sqrt(weights @ (tangent * tangent))
    point = problem.make_point(y, row, tangent=None if regular else tangent)
    point.chord = regular

    return point, correction


def _increasing(tangent):
    """Orientation of increasing parameter (or of the largest component)."""
    if abs(tangent[-1]) > 1e-12 * np.max(np.abs(tangent)):
        return np.sign(tangent[-1]) * tangent
    return np.sign(tangent[np.argmax(np.abs(tangent))]) * tangent


def _corrected_start(problem, x0):
    """Newton from x0 at the start parameter; raise if it cannot converge."""
    system, p = problem.system, problem.p_fixed
    value, _ = system.check_call(x0, p)
    try:
        x, converged, residual = newton_fixed(
            problem.evaluator, x0, problem.p0, tol=problem.options.newton_tol
        )
    except StepError as failure:
        raise InputError(f"the start point cannot be used: {failure}") from failure

    if not converged:
        raise ConvergenceError(
            f"x0 is not a rest point at {problem.param} = {problem.p0:g} "
            f"(max |f| = {np.max(np.abs(value)):.3g}) and Newton's method could "
            f"not correct it (residual {residual:.3g}); give a better x0 or "
            f"another p0",
            x=x,
            residual=residual,
        )

    return x


def _start_tangent(problem, y):
    """Tangent at the start and whether [f_x, f_p] has full rank there.

    Returns ``(tangent, regular)``; the tangent is None when the rest points
    are not isolated.

    Small dense systems read the null space of [f_x, f_p] from its singular
    value decomposition; others try bordered solves with the parameter
    direction and a fixed random row, and count a nearly singular bordered
    matrix as a rank-deficient start.
    """
    ev = problem.evaluator
    jac, fp = ev.jacobian(y)
    if not sp.issparse(jac) and problem.n <= _SVD_START_MAX:
        basis = _null_basis(jac, fp)
        if basis.shape[0] == 1:
            return basis[0], True
        return _singular_start(problem, y, jac, fp)

    rng = np.random.default_rng(12345)
    for row in (problem._last, rng.standard_normal(problem.n + 1)):
        lu = ev.factor(jac, fp, row)
        z = ev.tangent(lu)
        if np.all(np.isfinite(z)) and np.linalg.norm(z) < _SINGULAR_TANGENT:
            return z, True

    return _singular_start(problem, y, jac, fp)


def _null_basis(jac, fp):
    """Orthonormal basis of the null space of [f_x, f_p] (dense SVD)."""
    dense = jac.toarray() if sp.issparse(jac) else np.asarray(jac)
    matrix = np.column_stack([dense, fp])
    _, values, vt = np.linalg.svd(matrix)
    rank = int(np.count_nonzero(values > _RANK_RTOL * max(values[0], 1.0)))

    return vt[rank:]


def _singular_start(problem, y, jac, fp):
    """Start at a branch point, or diagnose rest points that are not isolated."""
    basis = _null_basis(jac, fp)
    if basis.shape[0] >= 2 and _still_singular(problem, y, basis[0]):
        return None, False

    return basis[np.argmax(np.abs(basis[:, -1]))], False


def _still_singular(problem, y, direction):
    """Whether [f_x, f_p] is rank deficient at a rest point near y too."""
    ev = problem.evaluator
    probe = y + _PROBE_DISTANCE * (1.0 + np.linalg.norm(y)) * direction
    for _ in range(10):
        jac, fp = ev.jacobian(probe)
        dense = jac.toarray() if sp.issparse(jac) else np.asarray(jac)
        matrix = np.column_stack([dense, fp])
        probe = probe - np.linalg.lstsq(matrix, ev.f(probe), rcond=None)[0]

    jac, fp = ev.jacobian(probe)
    return _null_basis(jac, fp).shape[0] >= 2


# ----------------------------------------------------------------------
# One run in one direction


class _Run:
    """Continuation from a start point in the direction of its tangent."""

    def __init__(self, problem, start):
        self.problem, self.options = problem, problem.options
        self.points, self.special = [start], []
        self.status, self.message, self.notes = None, "", []
        self.steps = self.rejected = self.subdivisions = 0
        self.ds = self.options.step
        self.progress = self.last_failure = None

    def go(self):
        """Step until a stop condition; returns self."""
        try:
            while self.status is None:
                self._advance()
        except KeyboardInterrupt:
            self._stop(Status.INTERRUPTED, "")

        return self

    def _stop(self, status, detail):
        self.status = status
        self.message = f"{status.text}: {detail}" if detail else status.text
        if self.options.verbose:
            logger.info("run stopped after %d steps: %s", self.steps, self.message)

    def _advance(self):
        prev = self.points[-1]
        if self.steps >= self.options.max_steps:
            return self._stop(Status.MAX_STEPS, f"{self.steps} steps")

        if self._leaving(prev):
            return self._stop(Status.REACHED_BOUND, self._bound_text(prev))

        try:
            new, iterations = self._trial(prev)
        except StepError as failure:
            return self._shrink(failure)
        angle = _angle(prev, new)

        if angle > self.options.max_angle and self.ds > 2 * self.options.ds_min:
            return self._shrink(None)

        try:
            new, ended = self._clip(prev, new)
        except StepError as failure:
            return self._shrink(failure)

        events = [
            t
            for i, t in enumerate(self.problem.tests)
            if t.changed(prev.values[i], new.values[i])
        ]

        if not self._consistent(prev, new, events) and self._may_subdivide():
            self.subdivisions += 1
            self.rejected += 1
            self.ds *= 0.5
            return None

        self._accept(prev, new, events)
        if ended:
            return self._stop(Status.REACHED_BOUND, self._bound_text(new))

        if self._closed(new):
            return self._stop(Status.CLOSED, f"after {self.steps} steps")
        self._adapt(iterations, angle)

        return None

    def _trial(self, prev):
        """Predict and correct one step of size ds: ``(point, iterations)``."""
        problem, opts = self.problem, self.options
        row = prev.border
        fix = correct(
            problem.evaluator,
            prev.y + self.ds * prev.tangent,
            prev.y,
            row,
            self.ds,
            prev.lu if prev.chord else None,
            prev.weights,
            tol=opts.newton_tol,
            max_iter=opts.max_newton,
            reuse=opts.newton_tol,
            reach=self.ds,
        )

        return problem.make_point(fix.y, row, fix.lu, previous=prev), fix.iterations

    def _shrink(self, failure):
        """Reject the step; stop when it would fall below ds_min."""
        self.rejected += 1
        self.ds *= _SHRINK
        if self.ds >= self.options.ds_min:
            self.last_failure = failure or self.last_failure
            return None
        failure = failure or self.last_failure

        status = {"non_finite": Status.NON_FINITE, "user_error": Status.USER_ERROR}
        kind = failure.kind if failure is not None else "small"
        detail = str(failure) if failure is not None else self._where()

        return self._stop(status.get(kind, Status.STEP_TOO_SMALL), detail)

    def _where(self):
        p = self.points[-1].y[-1]
        return f"at {self.problem.param} = {p:.12g}"

    def _leaving(self, point):
        """Whether the point is on a bound and its tangent points outwards."""
        lo, hi, p = self.problem.lo, self.problem.hi, point.y[-1]
        width = _BOUND_RTOL * max(1.0, abs(lo), abs(hi))
        return (p >= hi - width and point.tangent[-1] > 0) or (
            p <= lo + width and point.tangent[-1] < 0
        )

    def _bound_text(self, point):
        return f"{self.problem.param} = {point.y[-1]:.12g}"

    def _clip(self, prev, new):
        """Land on the bound when the step crossed it: ``(point, ended)``."""
        lo, hi, p = self.problem.lo, self.problem.hi, new.y[-1]
        if lo <= p <= hi:
            return new, False
        bound = hi if p > hi else lo

        return _land(self.problem, prev, new, bound), True

    def _consistent(self, prev, new, events):
        """Whether the flagged tests explain the change of the unstable count."""
        if prev.n_unstable < 0 or new.n_unstable < 0:
            return True
        change = abs(new.n_unstable - prev.n_unstable)
        expected = sum(test.crossings for test in events)

        return change <= expected and (expected - change) % 2 == 0

    def _may_subdivide(self):
        opts = self.options
        if self.subdivisions < opts.max_subdivisions and self.ds > 2 * opts.ds_min:
            return True
        self.notes.append(f"unstable count unexplained {self._where()}")

        return False

    def _accept(self, prev, new, events):
        """Record the new point and the special points located before it."""
        length = float(new.row @ (new.y - prev.y))
        new.s = prev.s + length
        if events:
            for point in _locate(self.problem, prev, new, events, length):
                self.special.append(
                    dataclasses.replace(point, index=len(self.points) - 1)
                )
                if self.options.verbose:
                    logger.info("%s", point)

        self.points.append(new)
        prev.lu = prev.jac = prev.reference = None
        self.steps += 1
        self.subdivisions = 0

        if self.progress is not None:
            self.progress.update(1)
        if self.options.verbose >= 2:
            logger.debug(
                "step %d: %s = %.10g, ds = %.3g",
                self.steps,
                self.problem.param,
                new.y[-1],
                self.ds,
            )

    def _closed(self, new):
        """Whether the last step passed the start point again."""
        if self.steps < 3:
            return False
        start, prev = self.points[0].y, self.points[-2].y
        segment, offset = new.y - prev, start - prev
        weights = new.weights
        length2 = weights @ (segment * segment)

        if length2 == 0:
            return False
        fraction = (weights @ (offset * segment)) / length2

        if not 0.0 <= fraction <= 1.0:
            return False
        miss = offset - fraction * segment

        return weights @ (miss * miss) <= _CLOSED_FRACTION**2 * length2

    def _adapt(self, iterations, angle):
        """Next step size from the iteration count and the tangent angle."""
        opts = self.options
        factors = _ITERATION_FACTORS
        by_count = factors[iterations - 1] if iterations <= len(factors) else _SHRINK
        by_angle = opts.target_angle / max(angle, 1e-12)
        factor = min(_GROW_MAX, max(_SHRINK, min(by_count, by_angle)))
        self.ds = min(opts.ds_max, max(opts.ds_min, self.ds * factor))


def _angle(prev, new):
    """Angle between the tangents of two points, in the norm of the first."""
    t = new.tangent
    cos = (prev.border @ t) / math.sqrt(prev.weights @ (t * t))
    return math.acos(min(1.0, max(-1.0, cos)))


def _land(problem, prev, new, bound):
    """The branch point at the parameter value `bound`, between prev and new."""
    fraction = (bound - prev.y[-1]) / (new.y[-1] - prev.y[-1])
    guess = prev.y[:-1] + fraction * (new.y[:-1] - prev.y[:-1])
    x, converged, _ = newton_fixed(
        problem.evaluator, guess, bound, tol=problem.options.newton_tol
    )

    if not converged:
        raise StepError("diverged", f"could not land on {problem.param} = {bound}")
    return problem.make_point(np.append(x, bound), new.row, previous=prev)


def _locate(problem, prev, new, events, length):
    """Locate the special points flagged in the step from prev to new."""
    locator = _detection.Locator(
        lambda sigma, lu: problem.point_at(prev, new, sigma, length, lu),
        prev,
        new,
        length,
        problem,
    )

    found = []
    for test in events:
        try:
            point = test.locate(locator)
        except StepError as failure:
            logger.warning("location of %s failed: %s", test.label, failure)
            point = _unlocated(problem, test, prev, new, length)
        if point is not None:
            found.append(point)

    return _detection.resolve(found, length)


def _unlocated(problem, test, prev, new, length):
    """A special point known only to lie within the step (not converged)."""
    p_values = sorted((prev.y[-1], new.y[-1]))
    return SpecialPoint(
        label=test.label,
        kind=test.kind,
        param=problem.param,
        value=float(prev.y[-1]),
        x=prev.y[:-1].copy(),
        index=-1,
        tangent=prev.tangent / np.linalg.norm(prev.tangent),
        converged=False,
        bracket=tuple(p_values),
        precision=p_values[1] - p_values[0],
        n_unstable=(prev.n_unstable, new.n_unstable),
        data={"arclength": prev.s},
    )


# ----------------------------------------------------------------------
# Both directions and the branch


def _continue(problem, start, correction):
    """Run from the start point as the options say and assemble the branch."""
    opts = problem.options
    forward_first = opts.ds > 0
    wanted = {
        "both": (True, True),
        "forward": (forward_first, not forward_first),
        "backward": (not forward_first, forward_first),
    }[opts.direction]

    progress = _progress_bar(opts)

    runs, starts = {}, {"forward": start, "backward": start.flipped()}
    for name, go in zip(("forward", "backward"), wanted, strict=True):
        if not go or _finished(runs):
            continue
        run = _Run(problem, starts[name])
        run.progress = progress
        runs[name] = run.go()

    if progress is not None:
        progress.close()
    return _assemble(problem, runs, correction)


def _finished(runs):
    """Whether a run already closed the branch or was interrupted."""
    return any(r.status in (Status.CLOSED, Status.INTERRUPTED) for r in runs.values())


def _progress_bar(options):
    if not options.progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger.warning("progress=True needs tqdm (pip install tqdm); no bar shown")
        return None

    return tqdm(total=2 * options.max_steps, unit="step", leave=False)


def _assemble(problem, runs, correction):
    """Join the runs into one Branch ordered by arclength."""
    forward, backward = runs.get("forward"), runs.get("backward")
    back = backward.points[::-1] if backward else []
    fwd = forward.points if forward else []

    if back and fwd:
        back = back[:-1]
    points = back + fwd
    back_length = backward.points[-1].s if backward else 0.0

    s = np.array([back_length - p.s for p in back] + [back_length + p.s for p in fwd])
    tangents = np.array([-p.tangent for p in back] + [p.tangent for p in fwd])
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    n_back = len(backward.points) if backward else 0
    special = _joined_special(backward, forward, n_back, len(back), back_length)
    ends = _end_points(problem, points, tangents, s, runs)

    status, message = _summary(runs, correction)
    return Branch(
        system=problem.system,
        param=problem.param,
        param_index=problem.k,
        p_fixed=problem.p_fixed.copy(),
        x=np.array([p.y[:-1] for p in points]),
        p=np.array([p.y[-1] for p in points]),
        s=s,
        tangent=tangents,
        n_unstable=np.array([p.n_unstable for p in points], dtype=int),
        eigenvalues=[_as_complex(p.eigenvalues) for p in points],
        special_points=(ends[0], *special, ends[1]),
        status=status,
        message=message,
        p_range=(problem.lo, problem.hi),
        info=_info(problem, runs, correction),
    )


def _as_complex(values):
    return np.empty(0, complex) if values is None else np.asarray(values, dtype=complex)


def _joined_special(backward, forward, n_back, offset, back_length):
    """Special points of both runs re-indexed along the joined branch.

    A backward-run point between run points j and j + 1 lies between joined
    points ``n_back - 2 - j`` and ``n_back - 1 - j``; forward-run indices
    shift by the number of backward points placed before the start.
    """
    joined = []
    for point in backward.special if backward else ():
        joined.append(
            dataclasses.replace(
                point,
                index=n_back - 2 - point.index,
                tangent=-point.tangent,
                n_unstable=point.n_unstable[::-1],
                data={**point.data, "arclength": back_length - point.data["arclength"]},
            )
        )

    for point in forward.special if forward else ():
        joined.append(
            dataclasses.replace(
                point,
                index=point.index + offset,
                data={**point.data, "arclength": back_length + point.data["arclength"]},
            )
        )

    return sorted(joined, key=lambda point: point.data["arclength"])


def _end_points(problem, points, tangents, s, runs):
    """The two EP special points."""
    ends = []
    for index, run_name in ((0, "backward"), (len(points) - 1, "forward")):
        point, run = points[index], runs.get(run_name)
        status = run.status.code if run else "start"
        ends.append(
            SpecialPoint(
                label="EP",
                kind="end",
                param=problem.param,
                value=float(point.y[-1]),
                x=point.y[:-1].copy(),
                index=index,
                tangent=tangents[index],
                bracket=(float(point.y[-1]),) * 2,
                precision=0.0,
                residual=float(np.max(np.abs(problem.evaluator.f(point.y)))),
                n_unstable=(point.n_unstable, point.n_unstable),
                data={"arclength": float(s[index]), "status": status},
            )
        )

    return ends


def _summary(runs, correction):
    """Status and message of the branch from those of its runs."""
    statuses = [run.status for run in runs.values()]
    status = min(statuses, key=severity)
    parts = [f"{name}: {run.message}" for name, run in runs.items()]
    notes = [note for run in runs.values() for note in run.notes]

    if correction > 0:
        parts.insert(
            0, f"start point corrected by Newton (max change {correction:.3g})"
        )

    if notes:
        parts.append("; ".join(sorted(set(notes))[:3]))
    return status, "; ".join(parts)


def _info(problem, runs, correction):
    counts = dict(problem.evaluator.counts)
    counts["steps"] = sum(run.steps for run in runs.values())
    counts["rejected"] = sum(run.rejected for run in runs.values())
    counts["start_correction"] = correction
    counts["stability"] = problem.stability.mode
    if problem.stability.mode == "arnoldi":
        tracker = problem.stability.tracker.counts
        counts["reference_spectra"] = tracker["reference"]
        counts["tracked_spectra"] = tracker["tracked"]
    counts["options"] = problem.options

    return counts


def _degenerate_branch(problem, x0, correction):
    """A one-point branch for rest points that are not isolated."""
    y = np.append(x0, problem.p0)
    n = problem.n
    message = (
        f"{Status.DEGENERATE.text} (at {problem.param} = {problem.p0:g}, "
        f"[f_x, f_p] has rank below {n})"
    )

    tangent = np.zeros((1, n + 1))
    return Branch(
        system=problem.system,
        param=problem.param,
        param_index=problem.k,
        p_fixed=problem.p_fixed.copy(),
        x=y[None, :-1],
        p=y[-1:],
        s=np.zeros(1),
        tangent=tangent,
        n_unstable=np.array([-1]),
        eigenvalues=[np.empty(0, complex)],
        special_points=(),
        status=Status.DEGENERATE,
        message=message,
        p_range=(problem.lo, problem.hi),
        info={"start_correction": correction},
    )


# ----------------------------------------------------------------------
# Public functions


def continuation(
    system,
    x0,
    param,
    p_range,
    *,
    p0=None,
    params=None,
    ds=None,
    ds_min=None,
    ds_max=None,
    max_steps=None,
    direction=None,
    detect=None,
    verbose=None,
    progress=None,
    options=None,
):
    """Follow a branch of rest points of ``x' = f(x, p)`` in one parameter.

    Parameters
    ----------
    system : System
    x0 : array_like, shape (n,)
        A rest point (or a guess, corrected by Newton) at the start value.
    param : str
        Name of the continued parameter.
    p_range : (float, float)
        The parameter interval [a, b]; the run stops at its ends.
    p0 : float, optional
        Start value of `param` (default: the system's value); must lie in
        `p_range` (its ends included).
    params : dict, optional
        Values of the other parameters (default: the system's).
    ds, ds_min, ds_max : float, optional
        First, smallest and largest step in weighted arclength (defaults
        0.01, 1e-9, 0.1).
    max_steps : int, optional
        Accepted steps per direction (default 2000).
    direction : {"both", "forward", "backward"}, optional
        Default "both": one branch through the start point.
    detect : tuple of str, optional
        Special points to locate, default ``("LP", "BP", "H")``.
    verbose : int, optional
        0, 1 or 2: what is logged (module ``logging``, INFO and DEBUG).
    progress : bool, optional
        A progress bar (tqdm) for long runs.
    options : ContinuationOptions, optional
        All settings; the keywords above override its fields.

    Returns
    -------
    Branch
        Points ordered by arclength, special points, status and message.
        Numerical trouble ends the run with a status; what was computed is
        kept.  Ctrl-C returns the partial branch with ``Status.INTERRUPTED``.

    Raises
    ------
    InputError
        Bad shapes, non-finite values, unknown names, p0 outside the range,
        inconsistent step sizes.
    UserFunctionError
        When f raises at the start point (chained, with x and p).
    ConvergenceError
        When x0 cannot be corrected to a rest point (the message gives the
        residual).

    Notes
    -----
    Pseudo-arclength continuation (Keller 1977) with a Newton-chord corrector
    on the bordered system; the factorisation at each new point gives the
    tangent, the fold test (the tangent's parameter component) and the
    branch-point test (the sign of the determinant).  See the module
    docstring for the weighted norm.  Limitations: a branch point exactly at
    the start point is found only when the start lies inside the run (use
    ``direction="both"``); a double crossing of the imaginary axis within one
    step is caught only through the unstable count.
    """
    opts = make_options(
        options,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_steps=max_steps,
        direction=direction,
        detect=detect,
        verbose=verbose,
        progress=progress,
    )

    problem = _Problem(system, param, p_range, p0, params, opts)
    x0 = system.check_state(x0)
    return run_from(problem, x0)


def run_from(problem, x0, hint=None):
    """Continue from x0 (corrected) in a validated problem; see `continuation`."""
    start, correction = _start_point(problem, x0)
    if start is None:
        return _degenerate_branch(problem, x0, correction)

    if hint is not None and hint @ start.tangent < 0:
        start = start.flipped()
    return _continue(problem, start, correction)


def stability(system, x, p):
    """Number of unstable eigenvalues and the eigenvalues of f_x at (x, p).

    Parameters
    ----------
    system : System
    x : array_like, shape (n,)
    p : array_like, shape (m,), or dict
        Parameter vector, or a dict overriding the defaults.

    Returns
    -------
    n_unstable : int
        Eigenvalues with positive real part.
    eigenvalues : ndarray of complex
        All of them, sorted by decreasing real part (for a large sparse
        system, the rightmost few).
    """
    x = system.check_state(x, "x")
    p = system.parameter_vector(p) if isinstance(p, dict) else np.asarray(p, float)
    _, jac = system.check_call(x, p)
    symmetric = bool(system.gradient or system.symmetrizer is not None)
    matrix = system.symmetrizer(x, p) if system.symmetrizer is not None else jac

    if sp.issparse(matrix) and system.n > _DENSE_EIG_MAX:
        values = rightmost_eigenvalues(matrix, 8)
    else:
        values = _dense_eigenvalues(matrix, symmetric)
    values = np.asarray(values, dtype=complex)
    values = values[np.argsort(-values.real, kind="stable")]

    return int(np.count_nonzero(values.real > 0)), values
