"""The landscape of a flow at one parameter value: its rest points and their graph.

Two results live here.  A `Census` lists every rest point found inside a box
by multi-start Newton with deflation, each with its stability (Morse index,
type, eigenvalues).  A `RestPointGraph` joins the rest points by the orbits
that leave each saddle along its unstable manifold: an edge from a saddle to
the rest point where such an orbit ends (its omega-limit).  For a
gradient-like flow the graph has no cycle.

Notes
-----
Deflation (Farrell, Birkisson & Funke 2015, "Deflation techniques for
finding distinct solutions of nonlinear partial differential equations")
multiplies f by ``m(x) = prod_i (1 / |x - r_i|^2 + 1)`` over the known roots
``r_i``, so that Newton's method started anywhere no longer converges to
them.  The Newton step of the deflated system is the ordinary step ``d``
scaled by ``1 / (1 - grad(log m) . d)``, which costs nothing extra.

The rest points and edges of the graph describe the flow's Morse-Smale
structure (Kuznetsov, "Elements of Applied Bifurcation Theory", ch. 2):
edges from saddles of index k go to rest points of lower index when the flow
is generic, and a saddle-to-saddle edge between saddles of equal index is a
global (heteroclinic) bifurcation.

Known shortcomings: a census finds a rest point only if some start reaches
it, and the Newton basins of sources and saddles shrink to almost nothing
where f is nearly piecewise linear (a diffusion landscape at small noise):
these can be missed unless the time-reversed flow carries starts to them
(`reverse_starts`); of the symmetries of f only oddness, f(-x) = -f(x), is
detected and used.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections import Counter

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._errors import InputError, UserFunctionError
from ._status import Status

__all__ = [
    "Census",
    "Edge",
    "GraphDiff",
    "RestPoint",
    "RestPointGraph",
    "classify_rest_point",
    "find_rest_points",
    "rest_point_graph",
    "type_label",
]

logger = logging.getLogger(__name__)

# Half-width of the search box around the origin when neither the caller
# nor the system gives one: wide enough for models scaled to order one.
DEFAULT_BOX_HALF_WIDTH = 10.0

# Number of quasi-random starting points of a census; a power of two keeps
# the Sobol sequence balanced.
DEFAULT_N_STARTS = 64

# Newton on f (with or without deflation): iteration cap, residual and step
# tolerances.  The residual is the max-norm of f, the step is relative to
# the size of x.
NEWTON_MAX_ITER = 40
NEWTON_FTOL = 1e-10
NEWTON_XTOL = 1e-12

# Backtracking halves the Newton step at most this many times; after this
# many steps in a row without a decrease of the residual a start is given up
# (deflated iterates far from any new root wander without progress).
NEWTON_MAX_HALVINGS = 12
NEWTON_MAX_STALLS = 3

# Newton iterates that leave the box grown by this factor (of its width) on
# every side are abandoned: deflation pushes iterates to infinity once the
# roots nearby are known.
ESCAPE_MARGIN = 1.0

# Newton solves per start: the first undeflated, then deflated ones as long
# as each finds a new root (deflation lets a start that converged try again).
ROOTS_PER_START = 4

# Two roots closer than this (relative to the box width, max-norm) are one.
DUPLICATE_TOL = 1e-7

# Deflation power and shift (Farrell et al. use power 2, shift 1).
DEFLATION_POWER = 2.0
DEFLATION_SHIFT = 1.0

# f counts as odd (f(-x) = -f(x), so that -r is a root with r) when this
# holds to this relative tolerance at a few seeded random points of the box:
# rounding in f gives about 1e-16, a model that is not odd gives order one.
ODD_RTOL = 1e-10
ODD_TEST_POINTS = 3
ODD_TEST_SEED = 20150417

# Starts carried by the time-reversed flow x' = -f(x) before Newton's
# method: for this long (in the flow's time, models scaled to order one),
# with these tolerances (the end point only seeds Newton).  Sources of f
# are sinks of -f; their Newton basins shrink to nothing where f is nearly
# piecewise linear (e.g. a diffusion landscape at small noise).
REVERSE_FLOW_TIME = 20.0
REVERSE_FLOW_RTOL = 1e-4
REVERSE_FLOW_ATOL = 1e-6

# An eigenvalue counts as zero (non-hyperbolic rest point) when its real
# part is below this times the largest eigenvalue modulus (or 1).
HYPERBOLIC_RTOL = 1e-9

# An eigenvalue is complex when its imaginary part exceeds this times its
# modulus.
COMPLEX_RTOL = 1e-9


# ----------------------------------------------------------------------
# Rest points


@dataclasses.dataclass(frozen=True, eq=False)
class RestPoint:
    """One rest point with its stability.

    Attributes
    ----------
    x : ndarray, shape (n,)
        The state.
    morse_index : int
        Number of eigenvalues of f_x with positive real part (the number of
        unstable directions; the Morse index for a gradient flow).
    kind : str
        ``"sink"`` (index 0), ``"source"`` (index n), ``"saddle"`` (in
        between) or ``"non-hyperbolic"`` (an eigenvalue on the imaginary
        axis).
    eigenvalues : ndarray of complex, shape (n,)
        Eigenvalues of f_x sorted by decreasing real part.
    hyperbolic : bool
        No eigenvalue on the imaginary axis.
    complex_pair : bool
        Some eigenvalues are complex (a focus; only in non-gradient flows).
    residual : float
        Max-norm of f at `x`.
    id : int
        Identifier within a graph or a sequence; -1 until assigned.
    """

    x: np.ndarray
    morse_index: int
    kind: str
    eigenvalues: np.ndarray
    hyperbolic: bool = True
    complex_pair: bool = False
    residual: float = 0.0
    id: int = -1

    @property
    def label(self):
        """A name for text: ``"sink"``, ``"saddle"``, ``"index-2 saddle"``, ..."""
        return type_label(self.kind, self.morse_index, self.complex_pair)

    def with_id(self, new_id):
        """A copy with identifier `new_id`."""
        return dataclasses.replace(self, id=int(new_id))

    def __repr__(self):
        x = np.array2string(self.x, precision=6, threshold=6)
        return f"RestPoint(id={self.id}, {self.label}, x={x})"


def type_label(kind, morse_index, complex_pair=False):
    """A rest point's type in words: ``"sink"``, ``"index-2 saddle"``, ...

    Saddles of index above one name their index; sinks and sources with
    complex eigenvalues are marked ``"(focus)"``.
    """
    if kind == "saddle" and morse_index > 1:
        return f"index-{morse_index} saddle"
    if complex_pair and kind in ("sink", "source"):
        return f"{kind} (focus)"
    return kind


def classify_rest_point(system, x, p, residual=0.0):
    """Stability of the rest point `x` of `system` at parameters `p`.

    Parameters
    ----------
    system : System
    x : ndarray, shape (n,)
    p : ndarray, shape (m,)
        Full parameter vector.
    residual : float
        Max-norm of f at x, kept in the result.

    Returns
    -------
    RestPoint
        With ``id = -1``.
    """
    from ._continuation import stability

    count, eigenvalues = stability(system, x, p)
    eigenvalues = np.asarray(eigenvalues, dtype=complex)
    scale = max(1.0, float(np.max(np.abs(eigenvalues), initial=0.0)))
    zero = np.abs(eigenvalues.real) <= HYPERBOLIC_RTOL * scale
    complex_pair = bool(
        np.any(np.abs(eigenvalues.imag) > COMPLEX_RTOL * np.abs(eigenvalues))
    )

    # With all eigenvalues at hand, those on the imaginary axis within
    # rounding are not counted as unstable; otherwise trust the count.
    index = int(np.sum((eigenvalues.real > 0) & ~zero))
    if eigenvalues.size < system.n:
        index = int(count)
    if np.any(zero):
        kind = "non-hyperbolic"
    elif index == 0:
        kind = "sink"
    elif index == system.n:
        kind = "source"
    else:
        kind = "saddle"
    return RestPoint(
        x=_frozen(x),
        morse_index=index,
        kind=kind,
        eigenvalues=_frozen(eigenvalues),
        hyperbolic=not np.any(zero),
        complex_pair=complex_pair,
        residual=float(residual),
    )


def _frozen(array):
    array = np.array(array)
    array.setflags(write=False)
    return array


# ----------------------------------------------------------------------
# Census


@dataclasses.dataclass(frozen=True, eq=False)
class Census:
    """The rest points found inside a box at one parameter vector.

    Attributes
    ----------
    rest_points : tuple of RestPoint
        Sorted by Morse index, then by state (lexicographically), with ids
        ``0, 1, ...`` in that order.  Known roots passed to the search are
        not included.
    p : ndarray, shape (m,)
        The parameter vector.
    box : tuple of two ndarrays, shape (n,)
        Lower and upper corners of the search region.
    n_starts : int
        Number of starting points used.
    n_newton : int
        Number of Newton solves run (a start that converged is tried again).
    n_skipped : int
        Starts skipped because f raised or was not finite there.
    odd : bool
        Whether f was found odd (``f(-x) = -f(x)``), so that the mirror
        image of every root was tried as a start.
    status : Status
        SUCCESS, or USER_ERROR / NON_FINITE when f failed at every start.
    message : str
    """

    rest_points: tuple
    p: np.ndarray
    box: tuple
    n_starts: int
    n_newton: int
    n_skipped: int = 0
    odd: bool = False
    status: Status = Status.SUCCESS
    message: str = ""

    def __len__(self):
        return len(self.rest_points)

    def __iter__(self):
        return iter(self.rest_points)

    @property
    def n_sinks(self):
        """Number of sinks found."""
        return sum(r.kind == "sink" for r in self.rest_points)

    def __str__(self):
        counts = f"{_count(len(self), 'rest point')} ({_count(self.n_sinks, 'sink')})"
        lines = [f"{counts}; {self.message}"]
        lines += [f"  {r.id}: {r.label} at {_format_state(r.x)}" for r in self]
        return "\n".join(lines)


def find_rest_points(
    system,
    p=None,
    *,
    params=None,
    box=None,
    n_starts=DEFAULT_N_STARTS,
    seed=0,
    known=(),
    extra_starts=(),
    tol=NEWTON_FTOL,
    max_iter=NEWTON_MAX_ITER,
    use_odd_symmetry=True,
    reverse_starts=0,
    verbose=0,
):
    """Find the rest points of `system` inside a box by multi-start Newton.

    Starts are a scrambled Sobol sequence in the box (reproducible from
    `seed`), after any `extra_starts`.  Newton's method runs from each start
    as it is; a start that converged is tried again with every root found
    so far deflated, so that it converges elsewhere.  When f is odd the
    mirror image of every root is tried too.

    Parameters
    ----------
    system : System
    p : array_like, shape (m,), optional
        Full parameter vector; the system's defaults when omitted.
    params : dict, optional
        Parameter values overriding `p` by name.
    box : tuple of two array_like, optional
        Lower and upper corners; defaults to ``system.box`` or the cube of
        half-width `DEFAULT_BOX_HALF_WIDTH` around the origin.
    n_starts : int
        Number of quasi-random starts.
    seed : int
        Seed of the scrambled Sobol sequence.
    known : sequence of array_like, shape (n,)
        Roots already known: deflated from the start and not returned.
    extra_starts : sequence of array_like, shape (n,)
        Starting points tried before the quasi-random ones.
    tol : float
        Max-norm of f accepted at a root.
    max_iter : int
        Newton iterations per solve.
    use_odd_symmetry : bool
        Test whether ``f(-x) = -f(x)`` (at a few random points) and, if so,
        start Newton at the origin and at the mirror image of every root
        known or found.
    reverse_starts : int
        How many of the quasi-random starts are first carried by the
        time-reversed flow ``x' = -f(x)`` (for `REVERSE_FLOW_TIME`, or until
        they leave the box), whose end points are tried as well: sources of
        f attract them, and saddles slow them down.  Costly; for sources
        whose Newton basins are tiny.
    verbose : int
        0 silent, 1 a summary line (logged at INFO; each root at DEBUG).

    Returns
    -------
    Census
        Starts where f raises or is not finite are skipped and counted in
        the message; when f fails at every start the status is USER_ERROR
        (or NON_FINITE) and the message shows the first failure.
    """
    p = _parameter_vector(system, p, params)
    lower, upper = resolve_box(system, box)
    n_starts = _int_at_least(n_starts, "n_starts", 1)
    reverse_starts = _int_at_least(reverse_starts, "reverse_starts", 0)
    known = [system.check_state(r, "known root") for r in known]
    sobol = list(_sobol_starts(lower, upper, n_starts, seed))
    starts = [system.check_state(s, "extra start") for s in extra_starts]
    starts += sobol + _reverse_flow_ends(
        system, p, sobol[:reverse_starts], (lower, upper)
    )

    search = _DeflatedSearch(system, p, lower, upper, known, tol, max_iter)
    for start in starts:
        search.run_from(start)
    odd = bool(use_odd_symmetry) and _is_odd(system, p, lower, upper)
    if odd:
        search.try_mirror_images()

    points = sorted(search.found, key=lambda r: _sort_key(r, lower, upper))
    points = tuple(r.with_id(i) for i, r in enumerate(points))
    status, message = search.summary(len(points), len(starts), odd)
    _log(verbose, 1, "census: %s", message)
    return Census(
        rest_points=points,
        p=_frozen(p),
        box=(_frozen(lower), _frozen(upper)),
        n_starts=len(starts),
        n_newton=search.n_newton,
        n_skipped=search.n_skipped,
        odd=odd,
        status=status,
        message=message,
    )


def _reverse_flow_ends(system, p, starts, box):
    """Where the time-reversed flow carries each start, if it stays in the box.

    Orbits that leave the box (grown by `ESCAPE_MARGIN`) are dropped, as are
    those along which f fails.

    Returns
    -------
    list of ndarray, shape (n,)
    """
    from scipy.integrate import solve_ivp

    def backward(t, x):
        value = _value_or_none(system, x, p)
        return -value if value is not None else np.full_like(x, np.nan)

    def jacobian(t, x):
        jac = system.fx(x, p)
        return -(jac.toarray() if sp.issparse(jac) else np.asarray(jac))

    def leaves(t, x):
        return 1.0 if in_box(x, box, ESCAPE_MARGIN) else -1.0

    leaves.terminal = True
    ends = []
    for start in starts:
        # The reversed flow of a dissipative model blows up away from its
        # sources: overflow there only ends the orbit.
        with np.errstate(all="ignore"):
            try:
                orbit = solve_ivp(
                    backward, (0.0, REVERSE_FLOW_TIME), start, method="LSODA",
                    jac=jacobian, rtol=REVERSE_FLOW_RTOL, atol=REVERSE_FLOW_ATOL,
                    events=leaves,
                )  # fmt: skip
            except (UserFunctionError, ValueError):
                continue
        if orbit.status == 0 and np.all(np.isfinite(orbit.y[:, -1])):
            ends.append(orbit.y[:, -1])
    return ends


def _is_odd(system, p, lower, upper):
    """Whether ``f(-x, p) = -f(x, p)`` at a few random points of the box.

    The points lie where the box meets its mirror image; when they do not
    meet, mirror images of roots lie outside and the question is moot.
    """
    low, high = np.maximum(lower, -upper), np.minimum(upper, -lower)
    if np.any(low >= high):
        return False

    rng = np.random.default_rng(ODD_TEST_SEED)
    for x in low + rng.random((ODD_TEST_POINTS, low.size)) * (high - low):
        plus, minus = _value_or_none(system, x, p), _value_or_none(system, -x, p)
        if plus is None or minus is None:
            return False
        scale = max(float(np.max(np.abs(plus))), float(np.max(np.abs(minus))))
        if np.max(np.abs(plus + minus)) > ODD_RTOL * max(scale, 1e-300):
            return False
    return True


def _value_or_none(system, x, p):
    """f(x, p) as a float array, or None where f raises or is not finite."""
    try:
        value = np.asarray(system.f(x, p), dtype=float)
    except UserFunctionError:
        return None
    return value if np.all(np.isfinite(value)) else None


def resolve_box(system, box=None):
    """The search box: `box`, else ``system.box``, else a default cube.

    Returns
    -------
    lower, upper : ndarray, shape (n,)
    """
    if box is None:
        box = system.box
    if box is None:
        half = np.full(system.n, DEFAULT_BOX_HALF_WIDTH)
        return -half, half

    try:
        lower, upper = (np.broadcast_to(np.asarray(b, float), (system.n,)) for b in box)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"box must be two corners of length {system.n}, got {box!r}"
        ) from exc

    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise InputError(f"box corners must be finite, got {box!r}")
    if not np.all(lower < upper):
        raise InputError(f"box lower corner must be below the upper one, got {box!r}")
    return lower.copy(), upper.copy()


def in_box(x, box, margin=0.0):
    """Whether `x` lies in `box` grown by `margin` times its width on each side."""
    lower, upper = box
    width = upper - lower
    return bool(
        np.all(x >= lower - margin * width) and np.all(x <= upper + margin * width)
    )


def _parameter_vector(system, p, params):
    if p is None:
        p = np.array(system.defaults)
    else:
        p = np.array(p, dtype=float).reshape(-1)
        if p.shape != (system.m,):
            raise InputError(
                f"p must be the full parameter vector of length {system.m} "
                f"({list(system.parameters)}), got shape {p.shape}"
            )

    for key, value in (params or {}).items():
        p[system.param_index(key)] = float(value)
    if not np.all(np.isfinite(p)):
        raise InputError(f"parameter values must be finite, got {p}")
    return p


def _int_at_least(value, name, low):
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < low
    ):
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _sobol_starts(lower, upper, count, seed):
    """`count` scrambled Sobol points in the box (balanced powers of two first)."""
    from scipy.stats import qmc  # costs 0.4 s at import; only a census needs it

    sampler = qmc.Sobol(d=lower.size, scramble=True, rng=np.random.default_rng(seed))
    power = int(np.ceil(np.log2(max(count, 1))))
    unit = sampler.random_base2(power)[:count]
    return lower + unit * (upper - lower)


def _sort_key(rest_point, lower, upper):
    """Canonical order: Morse index, then the state to the duplicate tolerance."""
    scaled = (rest_point.x - lower) / (upper - lower)
    return (rest_point.morse_index, tuple(np.round(scaled / DUPLICATE_TOL).tolist()))


class _DeflatedSearch:
    """Multi-start Newton with deflation of the roots found (mutable working state).

    Each start first runs plain Newton: deflating every root found so far
    bends the steps everywhere, and would steer starts away from basins of
    roots not yet found.  Only a start that converged is tried again with
    deflation, to find the roots its basin hides.
    """

    def __init__(self, system, p, lower, upper, known, tol, max_iter):
        self.system = system
        self.p = p
        self.box = (lower, upper)
        self.width = upper - lower
        self.roots = [np.asarray(r, float) for r in known]
        self.found = []
        self.tol = tol
        self.max_iter = max_iter
        self.n_newton = 0
        self.n_skipped = 0
        self.failures = Counter()
        self.first_failure = ""

    def run_from(self, start):
        """Newton from `start`, then deflated Newton while new roots come."""
        if not self._defined_at(start):
            return

        for attempt in range(ROOTS_PER_START):
            x, converged = self._solve(start, deflate=attempt > 0)
            if not converged or not in_box(x, self.box):
                return
            if self._is_known(x):
                if attempt > 0:
                    return
                continue
            self._accept(x)

    def try_mirror_images(self):
        """Plain Newton from -r for every root r, and from 0 (f is odd).

        For odd f, -r is a root with r, and the origin is one.
        """
        origin = np.zeros_like(self.box[0])
        for image in [origin] + [-root for root in self.roots]:
            if not in_box(image, self.box) or self._is_known(image):
                continue
            x, converged = self._solve(image, deflate=False)
            if converged and in_box(x, self.box) and not self._is_known(x):
                self._accept(x)

    def summary(self, n_found, n_starts, odd):
        """The census's status and message."""
        message = f"{_count(n_found, 'new rest point')} from {n_starts} starts"
        if odd:
            message += " (f is odd: mirror images of the roots tried)"
        if not self.n_skipped:
            return Status.SUCCESS, message

        message += (
            f"; {self.n_skipped} of {n_starts} starts skipped because f raised "
            "or was not finite there"
        )
        if self.n_skipped < n_starts:
            return Status.SUCCESS, message
        status = max(self.failures, key=self.failures.get)
        return status, (
            f"{message}: {status.text} (first: {self.first_failure}); give a box "
            "where the system is defined, or make f defined in the whole box"
        )

    def _solve(self, start, deflate):
        self.n_newton += 1
        return newton(
            self.system,
            start,
            self.p,
            deflate=self.roots if deflate else (),
            scale=self.width,
            tol=self.tol,
            max_iter=self.max_iter,
            box=self.box,
        )

    def _defined_at(self, start):
        """Whether f is finite at `start`; a start where it is not is counted."""
        try:
            value = np.asarray(self.system.f(start, self.p), dtype=float)
        except UserFunctionError as exc:
            return self._skip(Status.USER_ERROR, str(exc))

        if not np.all(np.isfinite(value)):
            return self._skip(
                Status.NON_FINITE, f"f is not finite at {_format_state(start)}"
            )
        return True

    def _skip(self, status, text):
        self.n_skipped += 1
        self.failures[status] += 1
        self.first_failure = self.first_failure or text
        logger.debug("census: start skipped: %s", text)
        return False

    def _is_known(self, x):
        return any(
            np.max(np.abs(x - r) / self.width) < DUPLICATE_TOL for r in self.roots
        )

    def _accept(self, x):
        self.roots.append(x)
        try:
            residual = float(np.max(np.abs(self.system.f(x, self.p))))
            rest_point = classify_rest_point(self.system, x, self.p, residual)
        except UserFunctionError as exc:
            # Deflated all the same, so that later starts do not return here.
            logger.warning("census: root at %s dropped: %s", _format_state(x), exc)
            return
        self.found.append(rest_point)
        logger.debug("census: %s at %s", rest_point.label, _format_state(x))


# ----------------------------------------------------------------------
# Newton's method


def newton(
    system,
    x0,
    p,
    *,
    deflate=(),
    scale=None,
    tol=NEWTON_FTOL,
    max_iter=NEWTON_MAX_ITER,
    box=None,
):
    """Damped Newton on f(x, p) = 0, optionally deflating known roots.

    Parameters
    ----------
    system : System
    x0 : ndarray, shape (n,)
    p : ndarray, shape (m,)
    deflate : sequence of ndarray, shape (n,)
        Roots to deflate (Farrell, Birkisson & Funke 2015).
    scale : ndarray, shape (n,), optional
        Per-component length scale of the deflation distance.
    tol : float
        Max-norm of f at convergence.
    max_iter : int
    box : tuple of two ndarrays, optional
        Iterates leaving the box grown by `ESCAPE_MARGIN` stop the solve.

    Returns
    -------
    x : ndarray, shape (n,)
    converged : bool
    """
    x = np.array(x0, dtype=float)
    scale = np.ones_like(x) if scale is None else np.asarray(scale, float)
    roots = [np.asarray(r, float) for r in deflate]
    merit, value = _merit(system, x, p, roots, scale)

    stalls = 0
    for _ in range(max_iter):
        if not np.all(np.isfinite(value)):
            return x, False
        if np.max(np.abs(value)) <= tol:
            return _polish(system, x, p, value), True

        try:
            step = _newton_step(system, x, p, value)
        except UserFunctionError:
            return x, False
        step = step * _deflation_factor(x, step, roots, scale)
        x, merit, value, decreased = _backtrack(system, x, p, step, merit, roots, scale)

        # Iterates that stop decreasing the residual, or run off, are given up.
        stalls = 0 if decreased else stalls + 1
        if stalls >= NEWTON_MAX_STALLS:
            return x, False
        if box is not None and not in_box(x, box, ESCAPE_MARGIN):
            return x, False
        if np.max(np.abs(step)) <= NEWTON_XTOL * (1 + np.max(np.abs(x))):
            break

    return x, bool(np.all(np.isfinite(value)) and np.max(np.abs(value)) <= tol)


def _polish(system, x, p, value):
    """One more plain Newton step from a converged `x`, kept if it lowers |f|."""
    try:
        trial = x + _newton_step(system, x, p, value)
    except UserFunctionError:
        return x
    trial_value = _value_or_none(system, trial, p)
    better = trial_value is not None and (
        np.max(np.abs(trial_value)) < np.max(np.abs(value))
    )
    return trial if better else x


def _newton_step(system, x, p, value):
    """The step d solving f_x d = -f (least squares if f_x is singular)."""
    jac = system.fx(x, p)
    if sp.issparse(jac):
        try:
            return spla.splu(sp.csc_matrix(jac)).solve(-value)
        except RuntimeError:
            return spla.lsqr(jac, -value)[0]

    jac = np.asarray(jac, dtype=float)
    try:
        # Near a fold f_x is nearly singular by nature; the damped step
        # copes, so the ill-conditioning warning says nothing useful.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            return scipy.linalg.solve(jac, -value, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return np.linalg.lstsq(jac, -value, rcond=None)[0]


def _deflation_factor(x, step, roots, scale):
    """Scaling of the Newton step for the deflated system (Farrell et al. 2015)."""
    if not roots:
        return 1.0

    grad_log_m = np.zeros_like(x)
    for root in roots:
        diff = (x - root) / scale
        dist2 = max(float(diff @ diff), 1e-300)
        weight = dist2 ** (-DEFLATION_POWER / 2)
        grad_log_m -= (
            DEFLATION_POWER * weight / dist2 / (weight + DEFLATION_SHIFT) * diff / scale
        )

    denominator = 1.0 - float(grad_log_m @ step)
    return 1.0 / denominator if abs(denominator) > 1e-12 else 1.0


def _merit(system, x, p, roots, scale):
    """Norm of the deflated residual m(x) f(x), and f(x).

    Where f raises the merit is infinite (and f NaN): backtracking then
    shortens the step, as it does where f overflows (silently: a trial step
    far out is expected to overflow in a model like exp(x)).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            value = np.asarray(system.f(x, p), dtype=float)
        except UserFunctionError:
            return np.inf, np.full(np.shape(x), np.nan)

        factor = 1.0
        for root in roots:
            dist2 = float(np.sum(((x - root) / scale) ** 2))
            factor *= max(dist2, 1e-300) ** (-DEFLATION_POWER / 2) + DEFLATION_SHIFT
        norm = factor * float(np.linalg.norm(value))
    return (norm if np.isfinite(norm) else np.inf), value


def _backtrack(system, x, p, step, merit, roots, scale):
    """Halve the step until the merit decreases.

    Returns the new point, its merit and f there, and whether the merit
    decreased; without a decrease the full step is taken all the same (if f
    is finite there), so that Newton can leave a shallow basin.
    """
    factor = 1.0
    for _ in range(NEWTON_MAX_HALVINGS):
        trial = x + factor * step
        trial_merit, value = _merit(system, trial, p, roots, scale)
        if trial_merit < merit:
            return trial, trial_merit, value, True
        factor /= 2

    trial = x + step
    trial_merit, value = _merit(system, trial, p, roots, scale)
    if not np.isfinite(trial_merit):
        _, value = _merit(system, x, p, roots, scale)
        return x, merit, value, False
    return trial, trial_merit, value, False


def _format_state(x, digits=6):
    return (
        "("
        + ", ".join(f"{v:.{digits}g}" for v in np.asarray(x)[:6])
        + (", ...)" if np.size(x) > 6 else ")")
    )


def _count(number, noun):
    """``"1 sink"``, ``"3 sinks"``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _log(verbose, level, message, *args):
    if verbose >= level:
        logger.info(message, *args)
    else:
        logger.debug(message, *args)


# ----------------------------------------------------------------------
# The graph of rest points


@dataclasses.dataclass(frozen=True, eq=False)
class Edge:
    """Where one branch of a saddle's unstable manifold ends.

    Attributes
    ----------
    source : int
        Id of the saddle (or source) the orbit leaves.
    target : int or None
        Id of the rest point the orbit tends to; None when it escaped the
        region or its end is undecided.
    branch : int
        Which branch: 0 and 1 for the two sides of a one-dimensional
        unstable manifold, the sample number on the unstable sphere for
        higher dimensions.
    end : str
        ``"rest point"``, ``"escaped"`` or ``"undecided"``.
    orbit : ndarray, shape (T, n), or None
        Points of the orbit followed (for plotting).
    """

    source: int
    target: int | None
    branch: int
    end: str = "rest point"
    orbit: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def key(self):
        """``(source, target)`` with target replaced by the end when no rest point."""
        return (self.source, self.target if self.target is not None else self.end)


@dataclasses.dataclass(frozen=True)
class GraphDiff:
    """How a `RestPointGraph` differs from another one (ids must correspond).

    Edges are ``(source, target)`` pairs, counted with multiplicity; a target
    that is not a rest point is the string ``"escaped"`` or ``"undecided"``.
    """

    added_nodes: tuple = ()
    removed_nodes: tuple = ()
    changed_nodes: tuple = ()
    added_edges: tuple = ()
    removed_edges: tuple = ()

    def __bool__(self):
        return any(dataclasses.astuple(self))

    def __str__(self):
        parts = [
            f"{name.replace('_', ' ')}: {list(value)}"
            for name, value in dataclasses.asdict(self).items()
            if value
        ]
        return "; ".join(parts) if parts else "no change"


@dataclasses.dataclass(frozen=True, eq=False)
class RestPointGraph:
    """Rest points joined by the orbits leaving them along unstable manifolds.

    Two graphs compare equal when they have the same node ids with the same
    types and the same edges ``(source, target)`` (with multiplicity); the
    states and orbits are not compared.

    Attributes
    ----------
    nodes : tuple of RestPoint
        Sorted by id.
    edges : tuple of Edge
        Sorted by source, branch.
    param : str or None
        Name of the parameter the graph belongs to, if any.
    value : float
        Its value (nan when `param` is None).
    p : ndarray, shape (m,)
        The full parameter vector.
    complete : bool
        False when edges were not computed (see `note`), e.g. after a Hopf
        point where a periodic orbit may attract the unstable manifolds.
    note : str
        Why the graph is incomplete or what to beware of.
    status : Status
    message : str
    """

    nodes: tuple
    edges: tuple
    param: str | None = None
    value: float = float("nan")
    p: np.ndarray | None = None
    complete: bool = True
    note: str = ""
    status: Status = Status.SUCCESS
    message: str = ""

    # Structure ---------------------------------------------------------

    def node(self, node_id):
        """The rest point with id `node_id` (KeyError if absent)."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(f"no rest point with id {node_id}; ids are {self.ids}")

    @property
    def ids(self):
        """Node ids in order."""
        return tuple(node.id for node in self.nodes)

    @property
    def n_sinks(self):
        """Number of sinks."""
        return sum(node.kind == "sink" for node in self.nodes)

    def targets(self, source):
        """Sorted targets of the edges leaving `source` (ids, or end strings)."""
        return tuple(
            sorted((e.key[1] for e in self.edges if e.source == source), key=str)
        )

    @property
    def edge_counts(self):
        """Counter of ``(source, target)`` keys.

        A one-dimensional unstable manifold counts each of its two branches;
        a sampled higher-dimensional one counts each target once, since how
        many samples reach a target is not a property of the flow.
        """
        index = {node.id: node.morse_index for node in self.nodes}
        counts = Counter(edge.key for edge in self.edges)
        return Counter(
            {key: 1 if index[key[0]] > 1 else count for key, count in counts.items()}
        )

    @property
    def saddle_connections(self):
        """Edges between two saddles of the same Morse index (non-generic)."""
        index = {node.id: node.morse_index for node in self.nodes}
        return tuple(
            e
            for e in self.edges
            if e.target is not None and index[e.source] == index.get(e.target, -1)
        )

    @property
    def cycles(self):
        """Groups of rest points (tuples of ids) joined in cycles by the edges.

        A rest point lies on a cycle when it can be reached from itself; its
        group is every rest point reachable from it that reaches it back
        (graphs are small, so reachability by search is enough).
        """
        successors = {node.id: set() for node in self.nodes}
        for edge in self.edges:
            if edge.target is not None:
                successors[edge.source].add(edge.target)
        reach = {node: _reachable(successors, node) for node in successors}

        groups = {
            tuple(sorted(v for v in reach[u] if u in reach[v]))
            for u in successors
            if u in reach[u]
        }
        return tuple(sorted(groups))

    @property
    def is_acyclic(self):
        """True when no orbit chain returns to where it started (gradient-like)."""
        return not self.cycles

    # Comparison --------------------------------------------------------

    def _structure(self):
        nodes = tuple((node.id, node.kind, node.morse_index) for node in self.nodes)
        return nodes, tuple(sorted(self.edge_counts.items(), key=str))

    def __eq__(self, other):
        if not isinstance(other, RestPointGraph):
            return NotImplemented
        return self._structure() == other._structure()

    def __hash__(self):
        return hash(self._structure())

    def diff(self, other):
        """What changes from this graph to `other`.

        Returns
        -------
        GraphDiff
        """
        mine = {node.id: (node.kind, node.morse_index) for node in self.nodes}
        theirs = {node.id: (node.kind, node.morse_index) for node in other.nodes}

        added = self.edge_counts
        removed = other.edge_counts
        return GraphDiff(
            added_nodes=tuple(sorted(set(theirs) - set(mine))),
            removed_nodes=tuple(sorted(set(mine) - set(theirs))),
            changed_nodes=tuple(
                sorted(i for i in set(mine) & set(theirs) if mine[i] != theirs[i])
            ),
            added_edges=_counter_items(removed - added),
            removed_edges=_counter_items(added - removed),
        )

    # Views -------------------------------------------------------------

    def to_networkx(self):
        """A `networkx.MultiDiGraph`: nodes by id with their data, one edge per branch.

        Node attributes: ``x``, ``morse_index``, ``kind``, ``label``,
        ``hyperbolic``, and ``escaped`` / ``undecided`` (numbers of unstable
        branches that end nowhere).  Edge attributes: ``branch``.
        """
        import networkx as nx

        graph = nx.MultiDiGraph(param=self.param, value=self.value, note=self.note)
        for node in self.nodes:
            loose = Counter(e.end for e in self.edges if e.source == node.id)
            graph.add_node(
                node.id,
                x=np.array(node.x),
                morse_index=node.morse_index,
                kind=node.kind,
                label=node.label,
                hyperbolic=node.hyperbolic,
                escaped=loose["escaped"],
                undecided=loose["undecided"],
            )
        for edge in self.edges:
            if edge.target is not None:
                graph.add_edge(
                    edge.source, edge.target, key=edge.branch, branch=edge.branch
                )
        return graph

    def to_text(self):
        """A few lines for the terminal: the rest points, then the edges."""
        where = "" if self.param is None else f" at {self.param} = {self.value:.10g}"
        counts = f"{_count(len(self.nodes), 'rest point')}{where}"
        lines = [f"{counts} ({_count(self.n_sinks, 'sink')})"]

        for node in self.nodes:
            targets = ", ".join(str(t) for t in self.targets(node.id))
            arrow = f" -> {targets}" if targets else ""
            lines.append(f"  {node.id}: {node.label} at {_format_state(node.x)}{arrow}")

        if self.cycles:
            lines.append(f"  cycles: {list(self.cycles)}")
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)

    __str__ = to_text


def _counter_items(counter):
    items = []
    for key, count in sorted(counter.items(), key=str):
        items += [key] * count
    return tuple(items)


def _reachable(successors, start):
    """Every node reached from `start` by one or more edges."""
    seen, stack = set(), [start]
    while stack:
        for child in successors[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def rest_point_graph(
    system,
    p=None,
    *,
    params=None,
    rest_points=None,
    box=None,
    param=None,
    complete=True,
    note="",
    sources=None,
    census_options=None,
    manifold_options=None,
):
    """The graph of rest points of `system` at one parameter vector.

    Every unstable manifold branch of every rest point with an unstable
    direction is followed to its end with `bifurc.unstable_manifold_ends`;
    each gives an edge.

    Parameters
    ----------
    system : System
    p : array_like, shape (m,), optional
        Full parameter vector (the defaults when omitted).
    params : dict, optional
        Parameter values overriding `p` by name.
    rest_points : sequence of RestPoint or of ndarray, shape (n,), optional
        The nodes.  RestPoints keep their ids; arrays are classified and
        numbered in order.  When omitted, `find_rest_points` is run with
        `census_options`.
    box : tuple of two array_like, optional
        The region of the census and of the orbits.
    param : str, optional
        Name of a parameter to record with the graph (its value is read
        from `p`).
    complete : bool
        False builds the nodes only, with `note` saying why.
    note : str
        Kept in the result.
    sources : sequence of int, optional
        Ids of the rest points whose unstable manifolds are followed (all
        by default).
    census_options, manifold_options : dict, optional
        Passed to `find_rest_points` and to `bifurc.unstable_manifold_ends`.

    Returns
    -------
    RestPointGraph
    """
    p = _parameter_vector(system, p, params)
    box = resolve_box(system, box)
    nodes = _graph_nodes(system, p, rest_points, box, census_options or {})
    value = float(p[system.param_index(param)]) if param is not None else float("nan")

    options = {"box": _escape_box(box), **(manifold_options or {})}
    edges = []
    for node in nodes if complete else ():
        if node.morse_index >= 1 and node.hyperbolic:
            if sources is None or node.id in sources:
                edges += _unstable_edges(system, node, p, nodes, options)
    edges.sort(key=lambda e: (e.source, e.branch))
    return RestPointGraph(
        nodes=tuple(nodes),
        edges=tuple(edges),
        param=param,
        value=value,
        p=_frozen(p),
        complete=bool(complete),
        note=note,
        message=f"{len(nodes)} rest points, {len(edges)} unstable branches followed",
    )


def _escape_box(box):
    """The census box doubled about its centre: orbits leaving it have escaped."""
    lower, upper = box
    half = upper - lower
    return lower - half / 2, upper + half / 2


def _graph_nodes(system, p, rest_points, box, census_options):
    if rest_points is None:
        census = find_rest_points(system, p, box=box, **census_options)
        return list(census.rest_points)

    nodes = []
    for i, point in enumerate(rest_points):
        if not isinstance(point, RestPoint):
            x = system.check_state(point, "rest point")
            residual = float(np.max(np.abs(system.f(x, p))))
            point = classify_rest_point(system, x, p, residual).with_id(i)
        nodes.append(point)

    if len({node.id for node in nodes}) != len(nodes):
        raise InputError(
            f"rest point ids must be distinct, got {[n.id for n in nodes]}"
        )
    return sorted(nodes, key=lambda node: node.id)


def _unstable_edges(system, node, p, nodes, options):
    """One `Edge` per branch of the unstable manifold of `node`."""
    from ._manifolds import unstable_manifold_ends

    try:
        ends = unstable_manifold_ends(
            system, node.x, p, rest_points=[other.x for other in nodes], **options
        )
    except InputError as exc:
        # The rest point moved off hyperbolicity between census and graph:
        # its branches are left undecided instead of failing the graph.
        logger.warning(
            "unstable manifold of rest point %d not followed: %s", node.id, exc
        )
        return [Edge(node.id, None, branch, "undecided") for branch in range(2)]

    edges = []
    for branch, end in enumerate(ends):
        target = None
        if end.end == "rest point" and end.target_index is not None:
            target = nodes[int(end.target_index)].id
        end_kind = (
            end.end if end.end != "rest point" or target is not None else "undecided"
        )
        edges.append(Edge(node.id, target, branch, end_kind, np.asarray(end.orbit)))
    return edges
