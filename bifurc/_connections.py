"""Heteroclinic connections (HET) between hyperbolic rest points.

A connection from a rest point A to a rest point B is an orbit in the
unstable manifold of A and the stable manifold of B.  With one free
parameter it is generically isolated when ``dim W^u(A) + dim W^s(B) = n``.
It is located in three stages:

1. shooting: a signed gap between the orbit leaving A and the stable
   manifold of B, measured on a section around B, is zero at the
   connection; a bracketed root solve gives the parameter;
2. refinement: the connection as a boundary-value problem on a truncated
   interval with projection boundary conditions at both ends (Beyn 1990),
   solved by `scipy.integrate.solve_bvp` with the parameter and both rest
   points as unknowns, and repeated with smaller end distances to estimate
   the truncation error;
3. continuation in a second parameter: pseudo-arclength steps on the same
   boundary-value problem with both parameters free.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging

import numpy as np
import scipy.linalg as la
from scipy.integrate import solve_bvp
from scipy.interpolate import CubicHermiteSpline
from scipy.optimize import brentq, root

from ._errors import InputError
from ._io import atomic_path
from ._manifolds import (
    choose_method,
    escape_box,
    escape_event,
    integrate,
    make_event,
    newton_rest_point,
    polish_rest_point,
    rest_point_data,
    sphere_directions,
)
from ._status import Status

__all__ = [
    "Connection",
    "ConnectionCurve",
    "ConnectionOptions",
    "continue_connection",
    "find_connection",
]

logger = logging.getLogger(__name__)

# A rest point followed to a new parameter value may move this far (relative
# to the distance between source and target) in one Newton solve; farther,
# it is followed through the midpoint, at most _MAX_HALVINGS times.
_MAX_SHIFT = 0.25
_MAX_HALVINGS = 6

# Source and target closer than this (relative to 1 + |source|) are the
# same rest point.
_SAME_POINT = 1e-8

# The sphere search gives the root finder this gap (relative to the distance
# between the rest points) where a shot cannot be made: far from any zero.
_LOST_GAP = 1e3

# A root of the gap is accepted when the gap there is below this fraction of
# the section size; a sign change across a jump of the gap (the orbit
# switching between distant parts of phase space) leaves a gap of order one
# section size and is rejected.
_GAP_ACCEPT = 1e-2

# Without a time limit, orbits are followed for this multiple of the time
# the linearisations at both ends predict for the trip.
_TIME_FACTOR = 20.0

# An orbit has stopped moving once its speed falls below this fraction of
# its speed at the start (it is resting near some other rest point).
_SLOW_FRACTION = 1e-3

# Half-size, relative to the distance between the rest points, of the box
# around the end rest point whose exit ends a shot that missed the section.
_DEPART_BOX = 0.05

# Scans of the gap integrate with this relative tolerance at most: they only
# look for sign changes and small gaps, which the final solves sharpen.
_SCAN_RTOL = 1e-8

# Shots on an unstable manifold of dimension > 1 are aimed by where the
# linearised orbit is at distance _SPHERE_RADIUS and start at distance at
# least _SPHERE_EPS (so that their strong components stay representable).
_SPHERE_RADIUS = 0.1
_SPHERE_EPS = 1e-3

# Above this condition number of its eigenvectors, exponentials of a matrix
# are taken by scipy's expm instead of the eigen-decomposition.
_EIG_COND_LIMIT = 1e8

# Linear tails added to an orbit advance by this many time constants of the
# slowest eigenvalue per sample, for at most _TAIL_SAMPLES samples.
_TAIL_STEP = 0.25
_TAIL_SAMPLES = 4000

# Mesh points of an initial guess closer than this fraction of the interval
# are merged (solve_bvp needs a strictly increasing mesh).
_MESH_MERGE = 1e-5

# Boundary conditions are met to this fraction of eps: their residual moves
# the located parameter by about as much, relative to eps.
_BC_TOL = 1e-9

# The error estimate solves again with end distances divided by this factor.
_ERROR_FACTOR = 2.0

# The shooting error estimate looks for the new zero of the gap within this
# distance (relative to max(1, |value|)) of the old one, widened tenfold at
# most _ERROR_WIDENINGS times.
_ERROR_BRACKET = 1e-8
_ERROR_WIDENINGS = 6

# Above this ratio of largest to smallest real part of the eigenvalues at
# the ends, solve_bvp's residual control on the fast components asks for
# meshes of 1e4 nodes and more; the shooting result is kept instead.
_COLLOCATION_STIFF_LIMIT = 1e4

# Added to the message when collocation is skipped for stiffness.
_STIFF_NOTE = (
    "; stiffness ratio {ratio:.2g} exceeds {limit:.0g}, where collocation needs "
    "impractically fine meshes: value from shooting"
)

# During continuation, the end near the target is re-fitted when its
# distance drifts beyond this multiple of eps.
_TAIL_SLACK = 2.0

# Step-size control of the continuation: growth after a success, cut after
# a failure, and the largest accepted change of a parameter relative to ds.
_DS_GROW = 1.5
_DS_CUT = 0.5
_MAX_JUMP = 4.0


class _UnusableError(Exception):
    """A rest point was lost or changed type while the parameter moved."""


# ----------------------------------------------------------------------
# Options and results


@dataclasses.dataclass(frozen=True)
class ConnectionOptions:
    """Options of `find_connection` and `continue_connection`.

    Distances are relative to the distance between source and target.

    Attributes
    ----------
    eps : float
        Distance of the ends of the boundary-value problem from the rest
        points (in the unstable coordinates of the source and the stable
        coordinates of the target).
    shoot_eps : float
        Distance from the start rest point where shooting begins.
    section : float
        Half-size of the box around the end rest point on whose boundary
        the gap is measured.
    side : {"auto", "forward", "backward"}
        Shoot forward from the source along its unstable manifold, or
        backward from the target along its stable manifold.  ``"auto"``
        shoots from a one-dimensional manifold when there is one (forward
        first), and searches the sphere of directions forward otherwise.
    branch : {None, 1, -1}
        Which branch of a one-dimensional manifold to shoot along (None:
        both).
    n_scan : int
        Parameter values scanned for a sign change when the bracket ends do
        not show one.
    n_directions : int
        Directions sampled on the sphere of a manifold of dimension > 1.
    method : str
        `solve_ivp` method, or ``"auto"`` (LSODA with the Jacobian when
        stiff, DOP853 otherwise).
    rtol, atol : float
        Integration tolerances.
    t_max : float or None
        Time limit of each shooting orbit (None: from the eigenvalues).
    order : {1, 2}
        Order of the local manifolds at the ends (2: quadratic correction).
    refine : bool
        Refine by the boundary-value problem.
    estimate_error : bool
        Solve the boundary-value problem again with the end distances
        halved, and report the change of the parameter as its error.
    bvp_tol : float
        Residual tolerance of `solve_bvp`.
    max_nodes : int
        Mesh limit of `solve_bvp`.
    xtol : float
        Tolerance of the root solve in the parameter (relative to
        ``max(1, |value|)``).
    verbose : int
        0: log at debug level; 1 or more: log progress at info level.
    """

    eps: float = 1e-3
    shoot_eps: float = 1e-5
    section: float = 1e-3
    side: str = "auto"
    branch: int | None = None
    n_scan: int = 9
    n_directions: int = 16
    method: str = "auto"
    rtol: float = 1e-11
    atol: float = 1e-13
    t_max: float | None = None
    order: int = 2
    refine: bool = True
    estimate_error: bool = True
    bvp_tol: float = 1e-8
    max_nodes: int = 10000
    xtol: float = 1e-13
    verbose: int = 0

    def __post_init__(self):
        for name in ("eps", "shoot_eps", "section", "rtol", "atol", "bvp_tol", "xtol"):
            value = getattr(self, name)
            if not (np.isfinite(value) and 0 < value < 1):
                raise InputError(f"{name} must lie in (0, 1), got {value!r}")

        choices = {"side": ("auto", "forward", "backward"), "branch": (None, 1, -1)}
        choices["order"] = (1, 2)
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(
                    f"{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )

        if self.n_scan < 2 or self.n_directions < 2:
            raise InputError(
                f"n_scan and n_directions must be at least 2, got "
                f"{self.n_scan} and {self.n_directions}"
            )
        if self.t_max is not None and not self.t_max > 0:
            raise InputError(f"t_max must be positive, got {self.t_max!r}")


def _options(options):
    """Build `ConnectionOptions`, naming any unknown keyword."""
    known = {f.name for f in dataclasses.fields(ConnectionOptions)}
    unknown = sorted(set(options) - known)

    if unknown:
        raise InputError(
            f"unknown option(s) {unknown}; the options are {sorted(known)}"
        )
    return ConnectionOptions(**options)


class _Orbit:
    """The orbit of a connection as a function of time: ``orbit(t) -> x``."""

    def __init__(self, solution):
        self._solution = solution

    def __call__(self, t):
        """States at times `t`: shape (n,) for a scalar, (len(t), n) otherwise."""
        return np.asarray(self._solution(t)).T


@dataclasses.dataclass(frozen=True, eq=False)
class Connection:
    """A heteroclinic connection (HET) from `source` to `target`.

    Attributes
    ----------
    system : System
    source, target : ndarray, shape (n,)
        The rest points at the connection's parameters.
    source_id, target_id : object
        Labels given by the caller (None when not given).
    param : str
        The free parameter.
    value : float
        Its value at the connection (NaN when none was found).
    p : ndarray, shape (m,)
        The full parameter vector at the connection.
    t : ndarray, shape (N,)
        Mesh of the orbit; ``t = 0`` is the end near the source.
    x : ndarray, shape (N, n)
        The orbit on that mesh.
    orbit : callable or None
        ``orbit(t)``, the orbit between the mesh points (shape (n,) for a
        scalar `t`, (len(t), n) for an array).
    source_eigenvalues, target_eigenvalues : ndarray of complex
        Eigenvalues at both ends, sorted by real part.
    n_unstable_source, n_stable_target : int
        Dimensions of W^u(source) and W^s(target).
    error : float
        Estimated error of `value`: the larger of its change when the end
        distances are halved and its difference from the shooting value
        (NaN when not refined).
    residual : float
        Largest relative collocation residual of the boundary-value problem
        (NaN without refinement).
    gap : float
        Size of the shooting gap at `shooting_value`.
    shooting_value : float
        The parameter located by shooting, before refinement.
    T : float
        Length of the truncated time interval.
    eps : float
        Absolute distance of the ends from the rest points.
    status : Status
    message : str
    data : dict
        Details: ``side`` (of shooting), ``refined`` (by the boundary-value
        problem), and after refinement ``n_nodes``, ``bc_residual``,
        ``coarse_value``, ``truncation_change``.
    """

    system: object
    source: np.ndarray
    target: np.ndarray
    param: str
    value: float
    p: np.ndarray
    t: np.ndarray
    x: np.ndarray
    orbit: object
    source_eigenvalues: np.ndarray
    target_eigenvalues: np.ndarray
    n_unstable_source: int
    n_stable_target: int
    error: float = np.nan
    residual: float = np.nan
    gap: float = np.nan
    shooting_value: float = np.nan
    T: float = np.nan
    eps: float = np.nan
    source_id: object = None
    target_id: object = None
    status: Status = Status.SUCCESS
    message: str = ""
    data: dict = dataclasses.field(default_factory=dict)

    label = "HET"

    @property
    def success(self):
        """Whether the connection was located and refined."""
        return self.status.success

    def to_dataframe(self):
        """The orbit as a table: a column ``t`` and one per state variable."""
        import pandas as pd

        table = pd.DataFrame(self.x, columns=list(self.system.variables))
        table.insert(0, "t", self.t)
        return table

    def to_csv(self, path):
        """Write `to_dataframe()` to `path` atomically."""
        with atomic_path(path) as tmp:
            self.to_dataframe().to_csv(tmp, index=False)


@dataclasses.dataclass(frozen=True, eq=False)
class ConnectionCurve:
    """A curve of connections in the plane of two parameters.

    Attributes
    ----------
    param, param2 : str
        The parameter located by the connection and the continued one.
    values, values2 : ndarray, shape (N,)
        Their values along the curve, in order.
    arclength : ndarray, shape (N,)
        Arclength in the parameter plane.
    connections : tuple of Connection
        The connection at every point.
    status : Status
    message : str
        Why each end of the curve stopped.
    """

    param: str
    param2: str
    values: np.ndarray
    values2: np.ndarray
    arclength: np.ndarray
    connections: tuple
    status: Status = Status.SUCCESS
    message: str = ""

    def __len__(self):
        """Number of points on the curve."""
        return len(self.values)

    def to_dataframe(self):
        """One row per point: point, label, both parameters, T, residual, error."""
        import pandas as pd

        return pd.DataFrame(
            {
                "point": np.arange(len(self)),
                "label": ["HET"] * len(self),
                self.param2: self.values2,
                self.param: self.values,
                "arclength": self.arclength,
                "T": [c.T for c in self.connections],
                "residual": [c.residual for c in self.connections],
                "error": [c.error for c in self.connections],
            }
        )

    def to_csv(self, path):
        """Write `to_dataframe()` to `path` atomically."""
        with atomic_path(path) as tmp:
            self.to_dataframe().to_csv(tmp, index=False)


# ----------------------------------------------------------------------
# The problem: rest points that follow the parameter


@dataclasses.dataclass(frozen=True, eq=False)
class _Problem:
    """A connection problem at fixed parameters except the free one."""

    system: object
    param: str
    index: int
    p0: np.ndarray
    source: object
    target: object
    scale: float
    method: str
    options: ConnectionOptions
    cache: dict

    def p_at(self, value):
        """The full parameter vector with the free parameter at `value`."""
        p = np.array(self.p0)
        p[self.index] = value
        return p


def _setup(system, source, target, param, params, options):
    """Check the input, polish both rest points and count dimensions."""
    index = system.param_index(param)
    p0 = system.parameter_vector(params)
    source = _rest_point(system, source, p0, "source", options, ("unstable",))
    target = _rest_point(system, target, p0, "target", options, ("stable",))

    scale = float(np.linalg.norm(source.x - target.x))
    if scale <= _SAME_POINT * (1.0 + np.linalg.norm(source.x)):
        raise InputError(
            "source and target are the same rest point: homoclinic orbits are "
            "not supported by find_connection"
        )
    _check_dimensions(system, source, target, system.parameters[index])

    return _Problem(
        system=system, param=system.parameters[index], index=index, p0=p0,
        source=source, target=target, scale=scale,
        method=choose_method(options.method, source, target), options=options,
        cache={float(p0[index]): (source, target)},
    )  # fmt: skip


def _rest_point(system, x, p, name, options, graphs):
    """Data of the polished rest point `x`; `InputError` unless hyperbolic."""
    polished = polish_rest_point(system, x, p, name)
    data = rest_point_data(system, polished, p, order=options.order, graphs=graphs)

    if not data.hyperbolic:
        raise InputError(
            f"{name} is not hyperbolic (eigenvalues "
            f"{np.array2string(data.eigenvalues, precision=4)}); a connection needs "
            "hyperbolic rest points at both ends"
        )
    return data


def _check_dimensions(system, source, target, param):
    """Raise unless dim W^u(source) + dim W^s(target) = n."""
    k, d, n = source.n_unstable, target.n_stable, system.n
    count = f"dim W^u(source) + dim W^s(target) = {k} + {d} = {k + d}"

    if k + d > n:
        raise InputError(
            f"{count} > n = {n}: the manifolds meet transversally, so a connection "
            f"from source to target, where it exists, persists for a whole interval "
            f"of {param!r} and has no isolated value to locate; check which rest "
            "point is the source"
        )
    if k + d < n:
        raise InputError(
            f"{count} < n = {n}: a connection from source to target has "
            f"codimension {n - k - d + 1} and needs {n - k - d + 1} free parameters, "
            f"but only {param!r} is free; check which rest point is the source"
        )


def _rest_points_at(problem, value, halvings=0):
    """Source and target data at the free parameter `value` (cached).

    Newton's method starts from the rest points at the nearest value
    already computed, and bases are aligned with theirs.  When that fails,
    the rest points are first followed to the midpoint (at most
    `_MAX_HALVINGS` times).  Raises `_UnusableError` when a rest point is
    lost or changes type.
    """
    value = float(value)
    if value in problem.cache:
        return problem.cache[value]

    nearest = min(problem.cache, key=lambda v: abs(v - value))
    try:
        pair = _followed(problem, problem.cache[nearest], value)
    except _UnusableError:
        if halvings >= _MAX_HALVINGS:
            raise
        _rest_points_at(problem, 0.5 * (nearest + value), halvings + 1)
        return _rest_points_at(problem, value, halvings + 1)

    problem.cache[value] = pair
    return pair


def _followed(problem, previous, value):
    """Newton's method from the rest-point pair `previous` at `value`."""
    p = problem.p_at(value)
    where = f"{problem.param} = {value:.10g}"
    pair = []
    for old, graphs in zip(previous, (("unstable",), ("stable",)), strict=True):
        x, converged, _ = newton_rest_point(problem.system, old.x, p)
        if not converged or np.linalg.norm(x - old.x) > _MAX_SHIFT * problem.scale:
            raise _UnusableError(f"a rest point was lost at {where}")

        data = rest_point_data(
            problem.system, x, p, order=problem.options.order, reference=old,
            graphs=graphs,
        )  # fmt: skip
        if not data.hyperbolic or data.n_stable != old.n_stable:
            raise _UnusableError(f"a rest point changed type at {where}")
        pair.append(data)
    return tuple(pair)


# ----------------------------------------------------------------------
# Shooting and the gap


@dataclasses.dataclass(frozen=True, eq=False)
class _Shot:
    """One orbit shot from the start rest point, in integration time."""

    value: float
    gap: np.ndarray
    t: np.ndarray
    x: np.ndarray
    entered: bool
    sign: float
    direction: np.ndarray


def _oriented(pair, sign):
    """(start, end) data for shooting forward (sign 1) or backward (sign -1)."""
    source, target = pair
    if sign > 0:
        return source, target
    return target.reversed(), source.reversed()


def _shoot(problem, value, direction, sign, coarse=False):
    """Shoot from the start's local manifold in `direction` at parameter `value`.

    The gap is ``z_u - h(z_s)`` in the end rest point's coordinates (for the
    direction of integration), where the orbit first enters the box
    ``max(|z_s|, |z_u|) <= section`` around it; an orbit that never enters
    is measured where it comes closest in that norm.  The gap is zero
    exactly when the orbit lies on the end's local manifold (to second
    order in the section size), so its zero in the parameter is the
    connection (a Lin's-method-style gap on a section).  With `coarse`,
    integration tolerances are loosened to `_SCAN_RTOL` (for scans, where
    only the sign and rough size of the gap matter).
    """
    start, end = _oriented(_rest_points_at(problem, value), sign)
    p = problem.p_at(value)
    x0 = start.unstable_point(_start_coordinates(problem, start, direction))
    delta = problem.options.section * problem.scale
    events = _shot_events(problem, p, end, delta, x0)

    rtol, atol = problem.options.rtol, problem.options.atol
    if coarse:
        rtol, atol = max(rtol, _SCAN_RTOL), max(atol, _SCAN_RTOL * 1e-3 * problem.scale)
    sol = integrate(
        problem.system, x0, p, _time_limit(problem, start, end),
        method=problem.method, rtol=rtol, atol=atol, events=events, sign=sign,
    )  # fmt: skip

    entered = bool(sol.t_events[0].size)
    if entered:
        gap = end.stable_gap(sol.y_events[0][0])
    else:
        gap = _closest_gap(end, sol.y)
    return _Shot(value, gap, sol.t, sol.y.T, entered, sign, direction)


def _start_coordinates(problem, start, direction):
    """Unstable coordinates of a shot's first point for a unit `direction`.

    On a one-dimensional manifold: ``shoot_eps * direction``.  On a larger
    one, `direction` says where the linearised orbit is at the distance
    `_SPHERE_RADIUS`; it is flowed back by the linear flow to distance
    ``max(shoot_eps, _SPHERE_EPS)``.  Orbits then spread evenly over the
    sphere of directions instead of crowding along the strong unstable
    direction, so that orbits leaving along a weak direction are sampled.
    """
    eps = problem.options.shoot_eps * problem.scale
    if start.n_unstable == 1:
        return eps * direction

    eps = max(eps, _SPHERE_EPS * problem.scale)
    flow = _linear_flow(-start.unstable_block)
    far = _SPHERE_RADIUS * problem.scale * direction

    def excess(time):
        return np.log(np.linalg.norm(flow(time) @ far) / eps)

    slowest = np.min(start.eigenvalues.real[start.eigenvalues.real > 0])
    late = 2 * np.log(_SPHERE_RADIUS / _SPHERE_EPS) / slowest
    while excess(late) > 0:
        late *= 2
    time = brentq(excess, 0.0, late, xtol=1e-12 * late)
    return flow(time) @ far


def _linear_flow(matrix):
    """``t -> expm(matrix t)``, by eigenvectors when they are well conditioned."""
    values, vectors = np.linalg.eig(matrix)
    if np.linalg.cond(vectors) > _EIG_COND_LIMIT:
        return lambda time: la.expm(matrix * time)

    inverse = np.linalg.inv(vectors)
    return lambda time: ((vectors * np.exp(values * time)) @ inverse).real


def _shot_events(problem, p, end, delta, x0):
    """Events: entering the section box, escape, stopping, passing the end.

    The last one ends an orbit that leaves a box of size `_DEPART_BOX`
    around the end rest point: its closest approach lies behind it.
    """
    d = end.n_stable
    slow = _SLOW_FRACTION * np.linalg.norm(problem.system.rhs(x0, p))
    far = _DEPART_BOX * problem.scale
    points = np.vstack([problem.source.x, problem.target.x])
    center, half_width = escape_box(problem.system, None, points)

    def size(x):
        z = end.coordinates @ (x - end.x)
        return max(np.linalg.norm(z[:d]), np.linalg.norm(z[d:]))

    def stopped(_, x):
        return float(np.linalg.norm(problem.system.rhs(x, p))) - slow

    return [
        make_event(lambda _, x: size(x) - delta, direction=-1.0),
        escape_event(center, half_width),
        make_event(stopped, direction=-1.0),
        make_event(lambda _, x: size(x) - far, direction=1.0),
    ]


def _closest_gap(end, states):
    """The gap where `states` (shape (n, N)) come closest to the end's box.

    Its size is at least that closest distance (which exceeds the section
    size), so that an orbit crossing the local manifold away from the end
    rest point gives a jump of the gap, never a zero.
    """
    z = end.coordinates @ (states - end.x[:, None])
    d = end.n_stable
    size = np.maximum(np.linalg.norm(z[:d], axis=0), np.linalg.norm(z[d:], axis=0))
    closest = int(np.argmin(size))

    gap = end.stable_gap(states[:, closest])
    length = np.linalg.norm(gap)
    if length == 0:
        return np.full(gap.shape, size[closest])
    return gap * max(1.0, size[closest] / length)


def _time_limit(problem, start, end):
    """Time limit of a shot: the linear estimate of the trip, times a margin."""
    if problem.options.t_max is not None:
        return problem.options.t_max

    leave = np.min(start.eigenvalues.real[start.eigenvalues.real > 0])
    arrive = np.min(-end.eigenvalues.real[end.eigenvalues.real < 0])
    trip = np.log(1 / problem.options.shoot_eps) / leave
    trip += np.log(1 / problem.options.section) / arrive
    return _TIME_FACTOR * float(trip)


def _side(problem):
    """Direction of integration: 1 (forward from the source) or -1."""
    side = problem.options.side
    if side != "auto":
        return 1.0 if side == "forward" else -1.0
    if problem.source.n_unstable == 1 or problem.target.n_stable != 1:
        return 1.0
    return -1.0


def _bracket(problem, bracket):
    """The bracket as a sorted pair, or one around the start value."""
    start = float(problem.p0[problem.index])
    if bracket is None:
        width = 0.5 * max(1.0, abs(start))
        return start - width, start + width

    try:
        low, high = sorted(float(b) for b in bracket)
    except (TypeError, ValueError):
        raise InputError(
            f"bracket must be a pair of numbers, got {bracket!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InputError(
            f"bracket must be two distinct finite numbers, got {bracket!r}"
        )
    return low, high


def _locate(problem, bracket):
    """Shoot for the connection; returns ``(shot or None, message)``."""
    sign = _side(problem)
    start, _ = _oriented((problem.source, problem.target), sign)
    if start.n_unstable == 1:
        shots = _scalar_search(problem, sign, bracket)
    else:
        shots = _sphere_search(problem, sign, bracket)
    if not shots:
        return None, _no_root_message(problem, bracket, sign)

    start_value = problem.p0[problem.index]
    best = min(shots, key=lambda s: abs(s.value - start_value))
    message = f"gap zero at {problem.param} = {best.value:.12g}"

    if len(shots) > 1:
        others = ", ".join(f"{s.value:.8g}" for s in shots if s is not best)
        message += f" (other zeros in the bracket at {others})"
    return best, message


def _no_root_message(problem, bracket, sign):
    """What to say when shooting found no zero of the gap."""
    side = "forward from the source" if sign > 0 else "backward from the target"
    low, high = bracket

    return (
        f"shooting {side}, the gap did not change sign (or only across a jump) for "
        f"{problem.param} in [{low:.6g}, {high:.6g}]: there is no connection from "
        "this source to this target there; widen the bracket, raise n_scan, or "
        "check the direction (source and target swapped?)"
    )


def _scalar_search(problem, sign, bracket):
    """Roots of the scalar gap along each branch, at the bracket ends then a scan."""
    branch = problem.options.branch
    directions = [np.array([1.0]), np.array([-1.0])]
    if branch is not None:
        directions = [np.array([float(branch)])]

    for grid in (np.array(bracket), np.linspace(*bracket, problem.options.n_scan)):
        shots = []
        for direction in directions:
            shots += _roots_on_grid(problem, sign, direction, grid)
        if shots:
            return shots
    return []


def _scalar_gap(problem, value, direction, sign, coarse=False):
    """The scalar gap at `value`; NaN where the rest points are lost."""
    try:
        return float(_shoot(problem, value, direction, sign, coarse).gap[0])
    except _UnusableError:
        return np.nan


def _roots_on_grid(problem, sign, direction, grid):
    """Brent's method on every sign change of the gap between grid points."""
    gaps = [_scalar_gap(problem, value, direction, sign, True) for value in grid]
    delta = problem.options.section * problem.scale

    shots = []
    for (a, gap_a), (b, gap_b) in itertools.pairwise(zip(grid, gaps, strict=True)):
        if not (np.isfinite(gap_a) and np.isfinite(gap_b)) or gap_a * gap_b > 0:
            continue
        shot = _brent(problem, sign, direction, a, b)
        if shot is not None and abs(shot.gap[0]) <= _GAP_ACCEPT * delta:
            shots.append(shot)
    return shots


def _brent(problem, sign, direction, a, b):
    """Locate the zero of the gap between `a` and `b`; None when it is lost."""

    def gap(value):
        result = _scalar_gap(problem, value, direction, sign)
        if not np.isfinite(result):
            raise _UnusableError(f"no gap at {problem.param} = {value:.10g}")
        return result

    xtol = problem.options.xtol * max(1.0, abs(a), abs(b))
    try:
        value = brentq(gap, a, b, xtol=xtol, rtol=4 * np.finfo(float).eps)
        return _shoot(problem, value, direction, sign)
    except _UnusableError as exc:
        logger.debug("root between %g and %g abandoned: %s", a, b, exc)
        return None


def _sphere_search(problem, sign, bracket):
    """Search the sphere of directions and the parameter for a zero of the gap.

    Orbits are shot in `n_directions` directions at `n_scan` parameter
    values; from the one with the smallest gap, the gap (a vector as long
    as the manifold's dimension) is solved for the direction and the
    parameter together by a Powell hybrid method.
    """
    start, _ = _oriented((problem.source, problem.target), sign)
    directions = sphere_directions(start.n_unstable, problem.options.n_directions)
    best = None
    for value in np.linspace(*bracket, problem.options.n_scan):
        for direction in directions:
            shot = _try_shot(problem, value, direction, sign, coarse=True)
            if shot is not None and (best is None or _size(shot) < _size(best)):
                best = shot
    if best is None:
        return []

    shot = _solve_on_sphere(problem, sign, best)
    if shot is None or not bracket[0] <= shot.value <= bracket[1]:
        return []
    accepted = _size(shot) <= _GAP_ACCEPT * problem.options.section * problem.scale
    return [shot] if accepted else []


def _try_shot(problem, value, direction, sign, coarse=False):
    """`_shoot`, or None where the rest points are lost."""
    try:
        return _shoot(problem, value, direction, sign, coarse)
    except _UnusableError:
        return None


def _size(shot):
    """Length of the gap vector of a shot."""
    return float(np.linalg.norm(shot.gap))


def _solve_on_sphere(problem, sign, best):
    """Solve gap(direction, value) = 0 near the shot `best`."""
    complement = la.null_space(best.direction[None, :])

    def unpack(u):
        direction = best.direction + complement @ u[:-1]
        return direction / np.linalg.norm(direction), u[-1]

    def residual(u):
        shot = _try_shot(problem, u[-1], unpack(u)[0], sign)
        if shot is None:
            return np.full(len(u), _LOST_GAP)
        return shot.gap / problem.scale

    guess = np.append(np.zeros(complement.shape[1]), best.value)
    options = {"xtol": problem.options.xtol}
    solution = root(residual, guess, method="hybr", options=options)
    direction, value = unpack(solution.x)
    return _try_shot(problem, value, direction, sign)


# ----------------------------------------------------------------------
# The boundary-value problem (Beyn 1990)


@dataclasses.dataclass(frozen=True, eq=False)
class _Boundary:
    """The truncated connection as a boundary-value problem for `solve_bvp`.

    Unknowns: the orbit x(t) on [0, T], the free parameters, and both rest
    points A and B (the unknown-parameter vector is ``[free values, A,
    B]``).  Conditions: f(A) = 0, f(B) = 0; at t = 0, x - A on the local
    unstable manifold of A (``z_s = g(z_u)``) at distance eps
    (``z_u = sign * eps``, or ``|z_u| = eps`` when it has dimension > 1,
    which fixes the phase); at t = T, x - B on the local stable manifold of
    B (``z_u = h(z_s)``); with two free parameters, one pseudo-arclength
    condition in the parameter plane.
    """

    system: object
    p0: np.ndarray
    free: tuple
    eps: float
    pin: float | None
    references: tuple
    order: int
    vectorized: bool
    arclength: tuple | None = None

    def unpack(self, params):
        """``(p, A, B)`` from the unknown-parameter vector."""
        count, n = len(self.free), self.system.n
        p = np.array(self.p0)
        p[list(self.free)] = params[:count]
        return p, params[count : count + n], params[count + n :]

    def fun(self, _, y, params):
        """f at every mesh point, shape (n, N)."""
        p = self.unpack(params)[0]
        if self.vectorized:
            return np.asarray(self.system.rhs(y, p), dtype=float)
        columns = [self.system.rhs(y[:, j], p) for j in range(y.shape[1])]
        return np.column_stack(columns)

    def fun_jac(self, _, y, params):
        """f_x and f_p at every mesh point (f does not depend on A and B)."""
        p = self.unpack(params)[0]
        n, nodes = y.shape
        df_dy = np.empty((n, n, nodes))
        df_dp = np.zeros((n, len(params), nodes))

        for j in range(nodes):
            df_dy[:, :, j] = _dense(self.system.fx(y[:, j], p))
            for column, k in enumerate(self.free):
                df_dp[:, column, j] = self.system.fp(y[:, j], p, k)
        return df_dy, df_dp

    def ends(self, params):
        """Rest-point data at both ends for the current unknowns."""
        p, a, b = self.unpack(params)
        source_ref, target_ref = self.references
        source = rest_point_data(
            self.system, a, p, order=self.order, reference=source_ref,
            graphs=("unstable",),
        )  # fmt: skip
        target = rest_point_data(
            self.system, b, p, order=self.order, reference=target_ref,
            graphs=("stable",),
        )  # fmt: skip

        dims = (source.n_unstable, target.n_stable)
        if dims != (source_ref.n_unstable, target_ref.n_stable):
            raise _UnusableError(
                "a rest point changed type in the boundary-value solve"
            )
        return p, source, target

    def bc(self, ya, yb, params):
        """The boundary conditions, in the order of the class docstring."""
        p, source, target = self.ends(params)
        z_u = source.split(ya)[1]
        if self.pin is None:
            pin = [(z_u @ z_u - self.eps**2) / (2 * self.eps)]
        else:
            pin = z_u - self.pin * self.eps

        residual = [
            self.system.rhs(source.x, p),
            self.system.rhs(target.x, p),
            source.unstable_gap(ya),
            pin,
            target.stable_gap(yb),
        ]
        if self.arclength is not None:
            tangent, predictor = self.arclength
            residual.append([tangent @ (params[: len(self.free)] - predictor)])
        return np.concatenate([np.asarray(r, dtype=float).ravel() for r in residual])


def _dense(matrix):
    """A dense copy of a dense or sparse matrix."""
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix, float)


def _vectorized(system, p):
    """Whether ``system.rhs`` accepts states of shape (n, N) column by column."""
    sample = 0.5 + 0.1 * np.arange(3 * system.n, dtype=float).reshape(system.n, 3)
    try:
        together = np.asarray(system.rhs(sample, p), dtype=float)
    except Exception:  # noqa: BLE001 - any failure means "call column by column"
        return False
    if together.shape != sample.shape:
        return False

    apart = np.column_stack([system.rhs(sample[:, j], p) for j in range(3)])
    return bool(np.allclose(together, apart, rtol=1e-13, atol=1e-13))


def _boundary(problem, source, target, eps, free, arclength=None, pin_from=None):
    """A `_Boundary` with references `source`, `target` and the pin of `pin_from`."""
    pin = None
    if source.n_unstable == 1 and pin_from is not None:
        pin = float(np.sign(source.split(pin_from)[1][0]))

    return _Boundary(
        system=problem.system, p0=problem.p0, free=tuple(free), eps=eps, pin=pin,
        references=(source, target), order=problem.options.order,
        vectorized=_vectorized(problem.system, problem.p0), arclength=arclength,
    )  # fmt: skip


def _fit_ends(t, x, source, target, eps):
    """Trim or extend the orbit `x` (N, n) so both ends lie at distance `eps`.

    Distances are measured in the unstable coordinates of the source and
    the stable coordinates of the target; missing pieces are linear tails
    along the local manifolds.  Returns ``(t, x)`` with ``t[0] = 0``.
    """
    t, x = _fit_start(t, x, source, eps)
    t, x = _fit_finish(t, x, target, eps)
    t, x = _merge_close(t - t[0], x)
    return t, x


def _fit_start(t, x, source, eps):
    """Fit the start of the orbit to unstable distance `eps` from the source."""
    radius = np.linalg.norm(
        source.coordinates[source.n_stable :] @ (x - source.x).T, axis=0
    )
    if radius[0] < eps:
        first = int(np.argmax(radius >= eps)) if np.any(radius >= eps) else 0
        return t[first:], x[first:]

    rate = np.min(source.eigenvalues.real[source.eigenvalues.real > 0])
    step = _TAIL_STEP / rate
    propagator = la.expm(-source.unstable_block * step)
    tail = _tail(source.split(x[0])[1], propagator, eps, source.unstable_point)

    times = t[0] - step * np.arange(len(tail), 0, -1)
    return np.concatenate([times, t]), np.vstack([*tail[::-1], x])


def _fit_finish(t, x, target, eps):
    """Fit the end of the orbit to stable distance `eps` from the target."""
    radius = np.linalg.norm(
        target.coordinates[: target.n_stable] @ (x - target.x).T, axis=0
    )
    if radius[-1] < eps:
        last = int(np.argmax(radius < eps))
        return t[: last + 1], x[: last + 1]

    rate = np.min(-target.eigenvalues.real[target.eigenvalues.real < 0])
    step = _TAIL_STEP / rate
    propagator = la.expm(target.stable_block * step)
    tail = _tail(target.split(x[-1])[0], propagator, eps, target.stable_point)

    times = t[-1] + step * np.arange(1, len(tail) + 1)
    return np.concatenate([t, times]), np.vstack([x, *tail])


def _tail(z, propagator, eps, point):
    """Points ``point(P^j z)``, j = 1, 2, ..., until ``|P^j z| < eps``."""
    tail = []
    for _ in range(_TAIL_SAMPLES):
        if np.linalg.norm(z) < eps:
            break
        z = propagator @ z
        tail.append(point(z))
    return tail


def _merge_close(t, x):
    """Drop mesh points closer than `_MESH_MERGE` of the interval to the last kept."""
    keep = [0]
    gap = _MESH_MERGE * (t[-1] - t[0])
    for j in range(1, len(t)):
        if t[j] - t[keep[-1]] > gap:
            keep.append(j)

    if keep[-1] != len(t) - 1:
        keep[-1] = len(t) - 1
    return t[keep], x[keep]


def _solve(boundary, t, x, params, options):
    """Run `solve_bvp`; returns the solution, or None and a message."""
    try:
        solution = solve_bvp(
            boundary.fun, boundary.bc, t, x.T, p=params, fun_jac=boundary.fun_jac,
            tol=options.bvp_tol, max_nodes=options.max_nodes,
            bc_tol=_BC_TOL * boundary.eps,
        )  # fmt: skip
    except _UnusableError as exc:
        return None, str(exc)

    if solution.status != 0:
        return None, (
            f"solve_bvp: {solution.message} (raise max_nodes, loosen bvp_tol, or "
            "enlarge eps)"
        )
    return solution, ""


def _params(value, source, target, extra=()):
    """The unknown-parameter vector ``[value, *extra, A, B]``."""
    return np.concatenate([[value], list(extra), source.x, target.x])


@dataclasses.dataclass(frozen=True, eq=False)
class _Refined:
    """A solved boundary-value problem with its end data."""

    solution: object
    boundary: _Boundary
    source: object
    target: object
    value: float


def _refine(problem, shot):
    """Boundary-value refinement of a shot, with the truncation error estimate.

    Returns ``(fine, coarse, message)``; `fine` is None on failure.
    """
    source, target = _rest_points_at(problem, shot.value)
    eps = problem.options.eps * problem.scale
    t, x = _fit_ends(*_forward(shot), source, target, eps)
    coarse, message = _refine_once(problem, source, target, t, x, shot.value, eps)
    if coarse is None or not problem.options.estimate_error:
        return coarse, None, message

    finer = eps / _ERROR_FACTOR
    solution = coarse.solution
    t, x = _fit_ends(solution.x, solution.y.T, coarse.source, coarse.target, finer)
    fine, message = _refine_once(
        problem, coarse.source, coarse.target, t, x, coarse.value, finer
    )
    return fine, coarse, message


def _refine_once(problem, source, target, t, x, value, eps):
    """One boundary-value solve; returns ``(_Refined or None, message)``."""
    boundary = _boundary(problem, source, target, eps, [problem.index], pin_from=x[0])
    params = _params(value, source, target)
    solution, message = _solve(boundary, t, x, params, problem.options)
    if solution is None:
        return None, message

    _, source, target = boundary.ends(solution.p)
    return _Refined(solution, boundary, source, target, float(solution.p[0])), ""


def _forward(shot):
    """The shot's orbit in forward time."""
    if shot.sign > 0:
        return shot.t, shot.x
    return shot.t[-1] - shot.t[::-1], shot.x[::-1]


# ----------------------------------------------------------------------
# find_connection


def find_connection(
    system,
    source,
    target,
    param,
    bracket=None,
    *,
    params=None,
    source_id=None,
    target_id=None,
    **options,
):
    """Locate a heteroclinic connection from `source` to `target`.

    Parameters
    ----------
    system : System
    source, target : array_like, shape (n,)
        Hyperbolic rest points at the start parameters (polished by Newton's
        method, and followed by it as the parameter moves).  The connection
        runs from `source` (t -> -inf) to `target` (t -> +inf).
    param : str
        The free parameter.
    bracket : (float, float), optional
        Interval of `param` to search; default: the start value plus or
        minus ``0.5 max(1, |start|)``.
    params : dict, optional
        Values of the other parameters (and the start value of `param`),
        overriding the system's defaults.
    source_id, target_id : optional
        Labels copied into the result.
    **options
        See `ConnectionOptions`.

    Returns
    -------
    Connection
        With status SUCCESS when located and refined; NO_CONNECTION when the
        gap has no zero in the bracket; NOT_CONVERGED when shooting found
        the connection but the boundary-value problem failed (the shooting
        result is returned).

    Raises
    ------
    InputError
        For a bad argument, a point that is not a hyperbolic rest point, or
        a wrong dimension count: ``dim W^u(source) + dim W^s(target)`` must
        equal n (more: connections persist over intervals of the parameter;
        fewer: more free parameters are needed).

    Notes
    -----
    Shooting integrates along a one-dimensional unstable manifold of the
    source (or, when the source's is larger but the target's stable manifold
    is one-dimensional, backward along that); otherwise it searches the
    sphere of unstable directions.  An orbit leaving along a weak unstable
    direction is found from the target's side, since forward shooting
    amplifies errors in the strong direction beyond recovery.  The boundary
    conditions are Beyn's projection conditions (W.-J. Beyn, "The numerical
    computation of connecting orbits in dynamical systems", IMA J. Numer.
    Anal. 10, 1990) with the quadratic correction of the local manifolds,
    whose truncation error is then cubic in eps.

    Known shortcomings: homoclinic orbits (source = target) are not
    supported; above a stiffness ratio of `_COLLOCATION_STIFF_LIMIT` (1e4)
    the value comes from shooting alone (solve_bvp's residual control would
    need meshes of 1e4 nodes and more), and such connections cannot be
    continued; when both manifolds have dimension > 1 the sphere search
    shoots ``n_scan * n_directions`` orbits and can miss a narrow window of
    directions (raise `n_directions` or narrow the bracket).
    """
    options = _options(options)
    problem = _setup(system, source, target, param, params, options)
    shot, message = _locate(problem, _bracket(problem, bracket))
    _log(options, "%s", message)

    ids = {"source_id": source_id, "target_id": target_id}
    if shot is None:
        return _empty_connection(problem, Status.NO_CONNECTION, message, ids)

    ratio = _stiffness(problem)
    if not options.refine or ratio > _COLLOCATION_STIFF_LIMIT:
        if options.refine:
            message += _STIFF_NOTE.format(ratio=ratio, limit=_COLLOCATION_STIFF_LIMIT)
        error = _shooting_error(problem, shot) if options.estimate_error else np.nan
        return _shot_connection(problem, shot, Status.SUCCESS, message, ids, error)

    fine, coarse, bvp_message = _refine(problem, shot)
    if fine is None:
        message = f"{message}; boundary-value refinement failed: {bvp_message}"
        return _shot_connection(problem, shot, Status.NOT_CONVERGED, message, ids)
    return _bvp_connection(problem, shot, fine, coarse, ids)


def _log(options, text, *args):
    """Log at info level with ``verbose``, at debug level otherwise."""
    logger.log(logging.INFO if options.verbose else logging.DEBUG, text, *args)


def _empty_connection(problem, status, message, ids):
    """A connection with no orbit (nothing found), at the start parameters."""
    source, target = problem.source, problem.target
    return Connection(
        system=problem.system, source=source.x, target=target.x,
        param=problem.param, value=np.nan, p=problem.p0, t=np.zeros(0),
        x=np.zeros((0, problem.system.n)), orbit=None,
        source_eigenvalues=source.eigenvalues,
        target_eigenvalues=target.eigenvalues,
        n_unstable_source=source.n_unstable, n_stable_target=target.n_stable,
        eps=problem.options.eps * problem.scale, status=status, message=message,
        **ids,
    )  # fmt: skip


def _stiffness(problem):
    """Largest over smallest absolute real part of the eigenvalues at both ends."""
    values = np.concatenate([problem.source.eigenvalues, problem.target.eigenvalues])
    real = np.abs(values.real)
    return float(real.max() / real.min())


def _shooting_error(problem, shot):
    """Change of the shooting value when section and start distance are halved."""
    options = dataclasses.replace(
        problem.options,
        section=problem.options.section / _ERROR_FACTOR,
        shoot_eps=problem.options.shoot_eps / _ERROR_FACTOR,
    )
    finer = dataclasses.replace(problem, options=options, cache=dict(problem.cache))
    if shot.direction.size > 1:
        new = _solve_on_sphere(finer, shot.sign, shot)
        return np.nan if new is None else abs(new.value - shot.value)

    width = _ERROR_BRACKET * max(1.0, abs(shot.value))
    for _ in range(_ERROR_WIDENINGS):
        low, high = shot.value - width, shot.value + width
        gaps = [_scalar_gap(finer, v, shot.direction, shot.sign) for v in (low, high)]
        if gaps[0] * gaps[1] < 0:
            new = _brent(finer, shot.sign, shot.direction, low, high)
            return np.nan if new is None else abs(new.value - shot.value)
        width *= 10
    return np.nan


def _shot_connection(problem, shot, status, message, ids, error=np.nan):
    """The connection as located by shooting."""
    source, target = _rest_points_at(problem, shot.value)
    t, x = _forward(shot)
    side = "forward" if shot.sign > 0 else "backward"

    return dataclasses.replace(
        _empty_connection(problem, status, message, ids),
        source=source.x, target=target.x, value=shot.value,
        p=problem.p_at(shot.value), t=t, x=x,
        source_eigenvalues=source.eigenvalues,
        target_eigenvalues=target.eigenvalues,
        orbit=_Orbit(_hermite(problem, t, x, shot.value)),
        gap=float(np.linalg.norm(shot.gap)), shooting_value=shot.value,
        error=error, T=float(t[-1] - t[0]),
        data={"side": side, "refined": False},
    )  # fmt: skip


def _hermite(problem, t, x, value):
    """Cubic Hermite interpolant of an orbit, with slopes f(x) (shape (n, N))."""
    p = problem.p_at(value)
    slopes = np.column_stack([problem.system.rhs(state, p) for state in x])
    return CubicHermiteSpline(t, x.T, slopes, axis=1)


def _bvp_connection(problem, shot, fine, coarse, ids):
    """The connection as refined by the boundary-value problem."""
    solution = fine.solution
    truncation = np.nan if coarse is None else abs(fine.value - coarse.value)
    # Shooting and collocation discretise differently: their difference
    # bounds the discretisation error that the truncation change misses.
    error = float(np.nanmax([truncation, abs(fine.value - shot.value)]))
    message = (
        f"located by shooting and refined by the boundary-value problem; "
        f"{problem.param} = {fine.value:.12g} (estimated error {error:.2g})"
    )

    base = _shot_connection(problem, shot, Status.SUCCESS, message, ids)
    bc_residual = fine.boundary.bc(solution.y[:, 0], solution.y[:, -1], solution.p)
    details = {
        "refined": True,
        "n_nodes": len(solution.x),
        "bc_residual": float(np.max(np.abs(bc_residual))),
        "coarse_value": np.nan if coarse is None else coarse.value,
        "truncation_change": truncation,
    }

    return dataclasses.replace(
        base, source=fine.source.x, target=fine.target.x, value=fine.value,
        p=fine.boundary.unpack(solution.p)[0], t=solution.x, x=solution.y.T,
        orbit=_Orbit(solution.sol), source_eigenvalues=fine.source.eigenvalues,
        target_eigenvalues=fine.target.eigenvalues, error=error,
        residual=float(np.max(solution.rms_residuals)), T=float(solution.x[-1]),
        eps=fine.boundary.eps, data={**base.data, **details},
    )  # fmt: skip


# ----------------------------------------------------------------------
# continue_connection


@dataclasses.dataclass(frozen=True, eq=False)
class _CurvePoint:
    """A point of a continued curve: both parameter values and the solution."""

    values: np.ndarray
    refined: _Refined
    connection: Connection


def continue_connection(
    connection,
    param2,
    p_range,
    *,
    ds=0.02,
    ds_min=1e-5,
    ds_max=0.1,
    max_steps=200,
    direction="both",
    **options,
):
    """Continue a connection in a second parameter: a curve of HET points.

    Parameters
    ----------
    connection : Connection
        A refined connection (status SUCCESS) from `find_connection`.
    param2 : str
        The second parameter; the connection's parameter follows it.
    p_range : (float, float)
        Interval of `param2`; the curve stops at its ends.
    ds, ds_min, ds_max : float
        Initial, smallest and largest step in arclength of the parameter
        plane.
    max_steps : int
        Steps in each direction.
    direction : {"both", "forward", "backward"}
        Increasing `param2` first ("forward"), decreasing, or both.
    **options
        See `ConnectionOptions` (``eps``, ``bvp_tol``, ``max_nodes``,
        ``order``; ``estimate_error`` adds an error estimate per point).

    Returns
    -------
    ConnectionCurve
        Points ordered by increasing `param2` at the start.

    Raises
    ------
    InputError
        For bad steps or range, or a connection located by shooting alone
        (``refine=False``, or a stiff system: see `find_connection`).

    Notes
    -----
    Each step solves the boundary-value problem of `find_connection` with
    both parameters free and one extra condition, that the parameter pair
    lies on the line through the predictor orthogonal to the secant tangent
    (pseudo-arclength in the parameter plane; Keller 1977, Doedel's AUTO
    notes), so the curve may turn in either parameter.  The end near the
    target is re-fitted to distance eps when it drifts.
    """
    options = _options({"estimate_error": False, **options})
    problem, start = _continuation_start(connection, param2, options)
    low, high = _range(p_range, start.values[1], param2)
    _check_steps(ds, ds_min, ds_max, max_steps, direction)

    signs = {"both": (1.0, -1.0), "forward": (1.0,), "backward": (-1.0,)}[direction]
    settings = (ds, ds_min, ds_max, max_steps, (low, high))
    runs = [_walk(problem, start, sign, settings) for sign in signs]

    messages = [
        f"{'increasing' if sign > 0 else 'decreasing'} {param2}: {message}"
        for sign, (_, _, message) in zip(signs, runs, strict=True)
    ]
    return _curve(problem, param2, start, runs, signs, messages)


def _check_steps(ds, ds_min, ds_max, max_steps, direction):
    """Raise `InputError` for bad step settings of `continue_connection`."""
    if not 0 < ds_min <= ds <= ds_max:
        raise InputError(
            f"steps must satisfy 0 < ds_min <= ds <= ds_max, got ds_min={ds_min}, "
            f"ds={ds}, ds_max={ds_max}"
        )
    if int(max_steps) < 1:
        raise InputError(f"max_steps must be at least 1, got {max_steps}")

    if direction not in ("both", "forward", "backward"):
        raise InputError(
            f"direction must be 'both', 'forward' or 'backward', got {direction!r}"
        )


def _range(p_range, start, name):
    """`p_range` sorted; `InputError` unless it holds the start value."""
    try:
        low, high = sorted(float(v) for v in p_range)
    except (TypeError, ValueError):
        raise InputError(
            f"p_range must be a pair of numbers, got {p_range!r}"
        ) from None

    if not low <= start <= high:
        raise InputError(
            f"the connection's {name} = {start:.6g} lies outside p_range {p_range!r}"
        )
    return low, high


def _continuation_start(connection, param2, options):
    """The problem with two free parameters, and the connection as its first point."""
    _check_continuable(connection)
    system = connection.system
    index, index2 = system.param_index(connection.param), system.param_index(param2)
    if index2 == index:
        raise InputError(
            f"param2 must differ from the connection's parameter {param2!r}"
        )

    params = dict(zip(system.parameters, connection.p, strict=True))
    problem = _setup(
        system, connection.source, connection.target, connection.param, params, options
    )
    boundary = _boundary(
        problem, problem.source, problem.target, connection.eps, (index, index2),
        pin_from=connection.x[0],
    )  # fmt: skip

    values = np.array([connection.p[index], connection.p[index2]])
    refined = _Refined(None, boundary, problem.source, problem.target, values[0])
    return problem, _CurvePoint(values, refined, connection)


def _check_continuable(connection):
    """Raise `InputError` unless `connection` has a boundary-value solution."""
    if (
        not isinstance(connection, Connection)
        or connection.status is not Status.SUCCESS
    ):
        raise InputError(
            "connection must be a Connection with status SUCCESS (located and refined)"
        )
    if not connection.data.get("refined", False):
        raise InputError(
            "the connection has no boundary-value solution (it was located by "
            "shooting alone: refine=False, or a stiff system), and continuation "
            "needs one"
        )


def _walk(problem, start, sign, settings):
    """Pseudo-arclength steps from `start` in one direction of `param2`."""
    ds, ds_min, ds_max, max_steps, bounds = settings
    tangent = np.array([0.0, sign])
    point, points = start, []
    for _ in range(int(max_steps)):
        predictor = point.values + ds * tangent
        at_bound = not bounds[0] <= predictor[1] <= bounds[1]
        if at_bound:
            # The last step lands on the bound: param2 fixed there.
            predictor = np.array([point.values[0], np.clip(predictor[1], *bounds)])

        step_tangent = np.array([0.0, 1.0]) if at_bound else tangent
        new, message = _step(problem, point, predictor, step_tangent, ds)
        if new is None:
            ds *= _DS_CUT
            if ds < ds_min:
                text = f"{message}; {Status.STEP_TOO_SMALL.text}"
                return points, Status.STEP_TOO_SMALL, text
            continue

        tangent = (new.values - point.values) / np.linalg.norm(
            new.values - point.values
        )
        points.append(new)
        point = new
        if at_bound:
            return points, Status.REACHED_BOUND, Status.REACHED_BOUND.text
        ds = min(ds * _DS_GROW, ds_max)
    return points, Status.MAX_STEPS, Status.MAX_STEPS.text


def _step(problem, point, predictor, tangent, ds):
    """Correct the predictor; returns ``(point or None, message)``."""
    old = point.refined
    boundary = dataclasses.replace(
        old.boundary,
        references=(old.source, old.target),
        arclength=(tangent, predictor),
    )
    params = _params(predictor[0], old.source, old.target, extra=[predictor[1]])
    connection = point.connection
    solution, message = _solve(
        boundary, connection.t, connection.x, params, problem.options
    )
    if solution is None:
        return None, message

    values = solution.p[:2]
    if np.linalg.norm(values - predictor) > _MAX_JUMP * ds:
        return None, "the corrector jumped away from the predictor"
    refined = _refit(problem, boundary, solution, values)
    if refined is None:
        return None, "the refit of the truncation failed"

    error = _point_error(problem, refined) if problem.options.estimate_error else np.nan
    _log(problem.options, "HET curve point at parameter values %s", values)
    return _CurvePoint(
        values, refined, _curve_connection(connection, refined, error)
    ), ""


def _point_error(problem, refined):
    """Change of the located value when eps is halved (NaN on failure)."""
    solution, finer = refined.solution, refined.boundary.eps / _ERROR_FACTOR
    t, x = _fit_ends(solution.x, solution.y.T, refined.source, refined.target, finer)
    boundary = dataclasses.replace(
        refined.boundary, eps=finer, references=(refined.source, refined.target)
    )

    again, _ = _solve(boundary, t, x, solution.p, problem.options)
    return np.nan if again is None else abs(float(again.p[0]) - refined.value)


def _refit(problem, boundary, solution, values):
    """Check the end near the target; re-fit it to eps and re-solve if it drifted."""
    try:
        _, source, target = boundary.ends(solution.p)
    except _UnusableError:
        return None
    refined = _Refined(solution, boundary, source, target, float(values[0]))
    end = target.split(solution.y[:, -1])[0]
    if np.linalg.norm(end) <= _TAIL_SLACK * boundary.eps:
        return refined

    t, x = _fit_ends(solution.x, solution.y.T, source, target, boundary.eps)
    retry = dataclasses.replace(boundary, references=(source, target))
    again, _ = _solve(retry, t, x, solution.p, problem.options)
    if again is None:
        return None

    _, source, target = retry.ends(again.p)
    return _Refined(again, retry, source, target, float(again.p[0]))


def _curve_connection(template, refined, error):
    """The `Connection` at a point of a curve, from the start's as a template."""
    solution = refined.solution
    return dataclasses.replace(
        template, source=refined.source.x, target=refined.target.x,
        value=refined.value, p=refined.boundary.unpack(solution.p)[0],
        t=solution.x, x=solution.y.T, orbit=_Orbit(solution.sol),
        source_eigenvalues=refined.source.eigenvalues,
        target_eigenvalues=refined.target.eigenvalues, error=error,
        residual=float(np.max(solution.rms_residuals)), gap=np.nan,
        shooting_value=np.nan, T=float(solution.x[-1]),
        message="point of a continued curve of connections",
        data={"refined": True, "n_nodes": len(solution.x)},
    )  # fmt: skip


def _curve(problem, param2, start, runs, signs, messages):
    """Join the runs into one curve, ordered by increasing `param2` at the start."""
    ordered = [start]
    for (points, _, _), sign in zip(runs, signs, strict=True):
        ordered = ordered + points if sign > 0 else points[::-1] + ordered

    values = np.array([p.values for p in ordered])
    steps = np.linalg.norm(np.diff(values, axis=0), axis=1)
    statuses = [status for _, status, _ in runs]
    failed = [s for s in statuses if not s.success]

    return ConnectionCurve(
        param=problem.param, param2=param2, values=values[:, 0],
        values2=values[:, 1], arclength=np.concatenate([[0.0], np.cumsum(steps)]),
        connections=tuple(p.connection for p in ordered),
        status=failed[0] if failed else statuses[0], message="; ".join(messages),
    )  # fmt: skip
