"""Invariant manifolds of rest points and where their branches go.

A hyperbolic rest point x0 of x' = f(x, p) has a stable and an unstable
manifold, tangent at x0 to the stable and unstable eigenspaces of f_x.  This
module computes those eigenspaces from ordered real Schur forms, the local
manifolds to second order (as graphs over the eigenspaces), and follows the
orbits leaving along the unstable manifold to their omega-limit: a sink, the
outside of a bounding box, or nothing decided within a time limit.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import warnings

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from ._errors import InputError
from ._status import Status

__all__ = [
    "ManifoldBranch",
    "RestPointData",
    "newton_rest_point",
    "polish_rest_point",
    "rest_point_data",
    "sphere_directions",
    "unstable_manifold_ends",
]

logger = logging.getLogger(__name__)

# An eigenvalue whose real part is below this fraction of the spectral radius
# (or of 1, whichever is larger) counts as critical: the rest point is then
# not hyperbolic and its stable/unstable splitting is not trusted.
_HYPERBOLIC_TOL = 1e-8

# The quadratic graph of a local manifold costs a dense solve with this many
# unknowns (codimension times dimension squared); beyond it the linear
# approximation is used, which is still exact to first order.
_MAX_GRAPH_UNKNOWNS = 3000

# Newton's method for rest points: residual tolerance relative to the scale
# of the state, and a cap on iterations (quadratic convergence needs few).
_NEWTON_TOL = 1e-12
_NEWTON_MAX_ITER = 40

# A rest point given by the caller may move this far (relative to 1 + its
# norm) when Newton's method polishes it; farther, it was not a rest point.
_POLISH_DISTANCE = 1e-2

# Spectral radius over smallest nonzero real part above which the flow is
# treated as stiff and integrated by an implicit method with the Jacobian.
_STIFF_RATIO = 1e2

# An orbit is "slow" once its speed falls below this fraction of its speed
# at the start; Newton's method then looks for the rest point it slows at.
_SLOW_FRACTION = 1e-2

# Around a rest point passed by (not arrived at), slow-event detection is
# switched off within this multiple of the radius where |f| equals the
# slow threshold, so that the same rest point is not found twice.
_MASK_FACTOR = 4.0

# At the arrival radius of a sink the nonlinear part of f must stay below
# this fraction of the linear part; otherwise the radius is shrunk by
# _ARRIVE_SHRINK (at most _ARRIVE_TRIES times).
_LINEAR_DOMINANCE = 0.25
_ARRIVE_SHRINK = 4.0
_ARRIVE_TRIES = 8

# Newton's method halves a step at most _NEWTON_HALVINGS times, and accepts
# one that raises the residual by less than _RESIDUAL_GROWTH (the first
# steps from a rough guess may).
_NEWTON_HALVINGS = 10
_RESIDUAL_GROWTH = 2.0

# Without a box, an orbit escapes when it leaves a box around the known rest
# points this many times their spread (at least 1) in each direction.
_ESCAPE_SPREAD = 10.0

# A rest point found by Newton's method is the listed one within this
# distance (relative to 1 + its norm).
_MATCH_TOL = 1e-6

# A branch is followed through at most this many passes near rest points
# that it does not stop at.
_MAX_PASSES = 20


# ----------------------------------------------------------------------
# Eigen-data and local manifolds


@dataclasses.dataclass(frozen=True, eq=False)
class RestPointData:
    """Eigen-data and local invariant manifolds of a rest point.

    Coordinates near the rest point are ``z = coordinates @ (x - x0)``; the
    first ``n_stable`` entries are the stable coordinates ``z_s``, the rest
    the unstable ones ``z_u``.  Locally, the stable manifold is the graph
    ``z_u = h(z_s)`` and the unstable manifold the graph ``z_s = g(z_u)``,
    with ``h`` and ``g`` quadratic forms (zero when only the linear
    approximation is kept).

    Attributes
    ----------
    x : ndarray, shape (n,)
        The rest point.
    p : ndarray, shape (m,)
        The full parameter vector.
    eigenvalues : ndarray of complex, shape (n,)
        Eigenvalues of f_x, sorted by increasing real part.
    stable_basis : ndarray, shape (n, d)
        Orthonormal basis of the stable eigenspace (d = n_stable).
    unstable_basis : ndarray, shape (n, k)
        Orthonormal basis of the unstable eigenspace (k = n_unstable).
    coordinates : ndarray, shape (n, n)
        Inverse of ``[stable_basis, unstable_basis]``.
    stable_block, unstable_block : ndarray, shapes (d, d) and (k, k)
        f_x restricted to each eigenspace, in its basis.
    stable_graph : ndarray, shape (k, d, d), or None
        ``h_i(z_s) = z_s @ stable_graph[i] @ z_s / 2``.
    unstable_graph : ndarray, shape (d, k, k), or None
        ``g_i(z_u) = z_u @ unstable_graph[i] @ z_u / 2``.
    hyperbolic : bool
        False when an eigenvalue has a (nearly) zero real part.
    """

    x: np.ndarray
    p: np.ndarray
    eigenvalues: np.ndarray
    stable_basis: np.ndarray
    unstable_basis: np.ndarray
    coordinates: np.ndarray
    stable_block: np.ndarray
    unstable_block: np.ndarray
    stable_graph: np.ndarray | None = None
    unstable_graph: np.ndarray | None = None
    hyperbolic: bool = True

    @property
    def n_stable(self):
        """Dimension of the stable manifold."""
        return self.stable_basis.shape[1]

    @property
    def n_unstable(self):
        """Dimension of the unstable manifold (the Morse index of a gradient flow)."""
        return self.unstable_basis.shape[1]

    @property
    def is_sink(self):
        """Whether every eigenvalue has a negative real part."""
        return self.hyperbolic and self.n_unstable == 0

    def split(self, x):
        """Stable and unstable coordinates ``(z_s, z_u)`` of the state `x`."""
        z = self.coordinates @ (np.asarray(x) - self.x)
        return z[: self.n_stable], z[self.n_stable :]

    def stable_gap(self, x):
        """``z_u - h(z_s)``: zero on the local stable manifold, shape (k,)."""
        z_s, z_u = self.split(x)
        return z_u - _quadratic(self.stable_graph, z_s, self.n_unstable)

    def unstable_gap(self, x):
        """``z_s - g(z_u)``: zero on the local unstable manifold, shape (d,)."""
        z_s, z_u = self.split(x)
        return z_s - _quadratic(self.unstable_graph, z_u, self.n_stable)

    def stable_point(self, z_s):
        """The point of the local stable manifold with stable coordinates `z_s`."""
        z_u = _quadratic(self.stable_graph, z_s, self.n_unstable)
        return self.x + self.stable_basis @ z_s + self.unstable_basis @ z_u

    def unstable_point(self, z_u):
        """The point of the local unstable manifold with unstable coordinates `z_u`."""
        z_s = _quadratic(self.unstable_graph, z_u, self.n_stable)
        return self.x + self.stable_basis @ z_s + self.unstable_basis @ z_u

    def reversed(self):
        """The same data for the time-reversed flow x' = -f(x, p).

        Stable and unstable parts swap and eigenvalues change sign; the
        manifolds, and so the graphs, are unchanged.
        """
        d = self.n_stable
        coordinates = np.vstack([self.coordinates[d:], self.coordinates[:d]])

        return dataclasses.replace(
            self,
            eigenvalues=-self.eigenvalues[::-1],
            stable_basis=self.unstable_basis,
            unstable_basis=self.stable_basis,
            coordinates=coordinates,
            stable_block=-self.unstable_block,
            unstable_block=-self.stable_block,
            stable_graph=self.unstable_graph,
            unstable_graph=self.stable_graph,
        )


def rest_point_data(
    system, x, p, *, order=2, reference=None, graphs=("stable", "unstable")
):
    """Eigenspaces and local manifolds of the rest point `x` at parameters `p`.

    Parameters
    ----------
    system : System
    x : ndarray, shape (n,)
        A rest point (not checked here; see `newton_rest_point`).
    p : ndarray, shape (m,)
        Full parameter vector.
    order : {1, 2}
        Order of the local manifolds: 1 keeps the eigenspaces, 2 adds the
        quadratic correction from the second derivatives `System.fxx`
        (exact for symbolic systems, finite differences of f_x otherwise).
    reference : RestPointData, optional
        Data at a nearby parameter.  The bases are rotated to be as close as
        possible to its bases, so that coordinates vary continuously along a
        family of rest points.
    graphs : tuple of str
        Which quadratic graphs to compute with ``order=2``: ``"stable"``,
        ``"unstable"`` or both.

    Returns
    -------
    RestPointData

    Notes
    -----
    The bases come from two ordered real Schur decompositions of f_x (left
    and right half-plane first).  The quadratic graph ``h`` of the stable
    manifold solves the invariance equation to second order,
    ``H_i B + B^T H_i - sum_j C_ij H_j = Q_i``, with B and C the stable and
    unstable blocks and ``Q_i`` the second derivative of f projected on
    unstable coordinate i (Kuznetsov, "Elements of Applied Bifurcation
    Theory", ch. 3 and 5, for the centre-manifold analogue); the unstable
    graph is the same with the roles swapped.  Hyperbolicity makes the
    equation uniquely solvable.
    """
    x = np.asarray(x, dtype=float)
    jac = _dense(system.fx(x, p))
    data = _eigen_data(x, np.array(p, dtype=float), jac, reference)

    if order >= 2 and data.hyperbolic and system.m > 0:
        data = _with_graphs(system, data, graphs)
    return data


def _eigen_data(x, p, jac, reference):
    """`RestPointData` without graphs, from the Jacobian `jac` at `x`."""
    eigenvalues = np.linalg.eigvals(jac)
    eigenvalues = eigenvalues[np.argsort(eigenvalues.real, kind="stable")]
    scale = max(1.0, float(np.max(np.abs(eigenvalues), initial=0.0)))
    hyperbolic = bool(np.all(np.abs(eigenvalues.real) > _HYPERBOLIC_TOL * scale))

    stable = _schur_basis(jac, "lhp")
    unstable = _schur_basis(jac, "rhp")
    if reference is not None and reference.n_stable == stable.shape[1]:
        stable = _align(stable, reference.stable_basis)
        unstable = _align(unstable, reference.unstable_basis)

    # With a critical eigenvalue the two bases do not span the whole space.
    basis = np.hstack([stable, unstable])
    square = basis.shape[1] == basis.shape[0]
    coordinates = np.linalg.inv(basis) if square else np.linalg.pinv(basis)

    d = stable.shape[1]
    return RestPointData(
        x=x, p=p, eigenvalues=eigenvalues, stable_basis=stable,
        unstable_basis=unstable, coordinates=coordinates,
        stable_block=coordinates[:d] @ jac @ stable,
        unstable_block=coordinates[d:] @ jac @ unstable, hyperbolic=hyperbolic,
    )  # fmt: skip


def _with_graphs(system, data, graphs):
    """Add the quadratic graphs of the local manifolds named in `graphs`."""
    d, k = data.n_stable, data.n_unstable
    if not (d and k):
        return data

    stable_graph = unstable_graph = None
    if "stable" in graphs and k * d**2 <= _MAX_GRAPH_UNKNOWNS:
        q = _projected_hessian(system, data, data.stable_basis, data.coordinates[d:])
        stable_graph = _quadratic_graph(data.stable_block, data.unstable_block, q)

    if "unstable" in graphs and d * k**2 <= _MAX_GRAPH_UNKNOWNS:
        q = _projected_hessian(system, data, data.unstable_basis, data.coordinates[:d])
        unstable_graph = _quadratic_graph(data.unstable_block, data.stable_block, q)

    return dataclasses.replace(
        data, stable_graph=stable_graph, unstable_graph=unstable_graph
    )


def _projected_hessian(system, data, basis, rows):
    """``Q[i, a, b] = rows[i] . f_xx(basis[:, a], basis[:, b])``."""
    size = basis.shape[1]
    padded = np.vstack([basis, np.zeros((1, size))])
    hessian = np.zeros((rows.shape[0], size, size))

    for a, b in itertools.combinations_with_replacement(range(size), 2):
        second = system.fxx(data.x, data.p, 0, padded[:, a], padded[:, b])
        hessian[:, a, b] = hessian[:, b, a] = rows @ np.asarray(second)
    return hessian


def _quadratic_graph(base, normal, hessian):
    """Solve ``H_i B + B^T H_i - sum_j C_ij H_j = Q_i`` for the graphs ``H_i``.

    `base` is B, shape (b, b); `normal` is C, shape (c, c); `hessian` is Q,
    shape (c, b, b).  Returns H with the shape of Q.
    """
    b, c = base.shape[0], normal.shape[0]
    eye = np.eye(b)
    sylvester = np.kron(base.T, eye) + np.kron(eye, base.T)
    matrix = np.kron(np.eye(c), sylvester) - np.kron(normal, np.eye(b * b))

    rhs = np.concatenate([q.ravel(order="F") for q in hessian])
    solution = np.linalg.solve(matrix, rhs)
    return np.stack([s.reshape((b, b), order="F") for s in np.split(solution, c)])


def _quadratic(graph, z, size):
    """The quadratic forms ``z @ graph[i] @ z / 2``, or `size` zeros without a graph."""
    if graph is None:
        return np.zeros(size)
    return 0.5 * np.einsum("iab,a,b->i", graph, z, z)


def _schur_basis(jac, half_plane):
    """Orthonormal basis of the invariant subspace of one open half-plane."""
    if jac.shape[0] == 0:
        return np.zeros((0, 0))
    _, vectors, dim = la.schur(jac, output="real", sort=half_plane)
    return vectors[:, :dim]


def _align(basis, reference):
    """Rotate `basis` within its span to be closest to `reference` (Procrustes)."""
    if basis.shape != reference.shape or basis.shape[1] == 0:
        return basis
    left, _, right = np.linalg.svd(basis.T @ reference)
    return basis @ (left @ right)


def _dense(matrix):
    if sp.issparse(matrix):
        return matrix.toarray()
    return np.asarray(matrix, dtype=float)


# ----------------------------------------------------------------------
# Rest points


def newton_rest_point(system, x, p, *, tol=_NEWTON_TOL, max_iter=_NEWTON_MAX_ITER):
    """Newton's method for f(x, p) = 0 from `x`, with step halving.

    Converged means a residual below ``tol (1 + |x|)`` or a Newton step
    below that size (the residual of a stiff system stays at rounding level
    times its largest rate).

    Returns
    -------
    x : ndarray, shape (n,)
        The last iterate.
    converged : bool
    residual : float
        ``max |f(x, p)|`` at the last iterate.
    """
    x = np.array(x, dtype=float)
    value = np.asarray(system.rhs(x, p), dtype=float)
    residual = float(np.max(np.abs(value), initial=0.0))

    for _ in range(max_iter):
        size = tol * (1.0 + np.max(np.abs(x), initial=0.0))
        if residual <= size:
            return x, True, residual

        step = _solve(system.fx(x, p), -value)
        if not np.all(np.isfinite(step)):
            break
        x, value, residual = _damped_update(system, x, p, step, residual)
        if np.max(np.abs(step)) <= size:
            return x, True, residual

    converged = residual <= tol * (1.0 + np.max(np.abs(x), initial=0.0))
    return x, bool(converged), residual


def _damped_update(system, x, p, step, residual):
    """Take the longest of step, step/2, ... that lowers the residual."""
    for _ in range(_NEWTON_HALVINGS):
        trial = x + step
        value = np.asarray(system.rhs(trial, p), dtype=float)
        new_residual = float(np.max(np.abs(value), initial=0.0))

        bound = _RESIDUAL_GROWTH * max(residual, np.finfo(float).tiny)
        if np.isfinite(new_residual) and new_residual < bound:
            return trial, value, new_residual
        step = step / 2
    return trial, value, new_residual


def _solve(matrix, rhs):
    """Solve a dense or sparse linear system; NaN on a singular matrix."""
    try:
        if sp.issparse(matrix):
            return _sparse_solve(matrix, rhs)
        return np.linalg.solve(np.asarray(matrix, dtype=float), rhs)
    except (np.linalg.LinAlgError, sp.linalg.MatrixRankWarning):
        return np.full(rhs.shape, np.nan)


def _sparse_solve(matrix, rhs):
    """`spsolve`, with its singular-matrix warning raised as an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", sp.linalg.MatrixRankWarning)
        return sp.linalg.spsolve(sp.csc_matrix(matrix), rhs)


# ----------------------------------------------------------------------
# Orbit integration


def choose_method(method, *data):
    """The `solve_ivp` method: `method` itself unless it is ``"auto"``.

    ``"auto"`` picks LSODA (which switches to BDF formulas with the
    Jacobian when stiffness appears) when the ratio of the largest to the
    smallest real part of the eigenvalues at the rest points in `data`
    exceeds `_STIFF_RATIO`, and DOP853 otherwise.  At tight tolerances LSODA
    takes a fraction of Radau's time on such problems.
    """
    if method != "auto":
        return method

    real = np.abs(np.concatenate([d.eigenvalues.real for d in data]))
    real = real[real > 0]
    stiff = real.size and real.max() > _STIFF_RATIO * real.min()
    return "LSODA" if stiff else "DOP853"


def integrate(system, x0, p, t_end, *, method, rtol, atol, events=(), sign=1.0):
    """Integrate ``x' = sign * f(x, p)`` from ``x(0) = x0`` with `solve_ivp`.

    Implicit methods (Radau, BDF, LSODA) receive the Jacobian.  Returns the
    `solve_ivp` result.
    """

    def fun(_, x):
        return sign * np.asarray(system.rhs(x, p), dtype=float)

    def jac(_, x):
        return sign * system.fx(x, p)

    implicit = method in ("Radau", "BDF", "LSODA")
    options = {"jac": jac} if implicit else {}
    return solve_ivp(
        fun, (0.0, t_end), x0, method=method, rtol=rtol, atol=atol,
        events=list(events), **options,
    )  # fmt: skip


def make_event(function, *, direction, terminal=True):
    """Give `function(t, x)` the attributes `solve_ivp` reads from an event."""
    function.direction = direction
    function.terminal = terminal
    return function


def escape_event(center, half_width):
    """Event: the orbit leaves the box ``|x - center| <= half_width``."""

    def outside(_, x):
        return float(np.max(np.abs(x - center) / half_width)) - 1.0

    return make_event(outside, direction=1.0)


def escape_box(system, box, points):
    """Centre and half-widths of the box whose exit counts as escape.

    `box` (lower, upper) wins; otherwise the system's box, doubled in size;
    otherwise a box around `points`, `_ESCAPE_SPREAD` times their spread.
    """
    if box is not None:
        lower, upper = (np.asarray(b, dtype=float) for b in box)
        return (lower + upper) / 2, (upper - lower) / 2

    if system.box is not None:
        lower, upper = system.box
        return (lower + upper) / 2, upper - lower

    points = np.atleast_2d(points)
    center = (points.max(axis=0) + points.min(axis=0)) / 2
    spread = float(np.max(points.max(axis=0) - points.min(axis=0), initial=0.0))
    return center, np.full(points.shape[1], _ESCAPE_SPREAD * max(spread, 1.0))


# ----------------------------------------------------------------------
# Where the branches of an unstable manifold go


@dataclasses.dataclass(frozen=True, eq=False)
class ManifoldBranch:
    """An orbit leaving a rest point along its unstable manifold.

    Attributes
    ----------
    direction : ndarray, shape (n,)
        Unit vector from the rest point to the orbit's first point.
    end : str
        ``"rest point"`` (it arrived at a sink), ``"escaped"`` (it left the
        bounding box) or ``"undecided"`` (neither within the time limit).
    target_index : int or None
        Index in the supplied `rest_points` of the sink it arrived at; None
        when it is not in that list (or none was supplied).
    target_x : ndarray, shape (n,), or None
        The sink it arrived at, polished by Newton's method.
    orbit : ndarray, shape (N, n)
        The computed orbit.
    t : ndarray, shape (N,)
        Times along it.
    source : ndarray, shape (n,)
        The rest point the branch leaves.
    status : Status
    message : str
    """

    direction: np.ndarray
    end: str
    target_index: int | None
    target_x: np.ndarray | None
    orbit: np.ndarray
    t: np.ndarray
    source: np.ndarray
    status: Status = Status.SUCCESS
    message: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class _Landmarks:
    """Known rest points at fixed parameters, with the sinks' arrival radii."""

    points: np.ndarray
    is_sink: np.ndarray
    radius: np.ndarray


@dataclasses.dataclass(frozen=True)
class _FollowOptions:
    eps: float
    t_max: float
    method: str
    rtol: float
    atol: float
    center: np.ndarray
    half_width: np.ndarray


def unstable_manifold_ends(
    system,
    x,
    p,
    rest_points=None,
    *,
    eps=1e-6,
    t_max=500.0,
    n_directions=8,
    box=None,
    arrive_radius=1e-3,
    method="auto",
    rtol=1e-9,
    atol=1e-12,
    order=2,
):
    """Follow the orbits leaving the rest point `x` along its unstable manifold.

    Parameters
    ----------
    system : System
    x : array_like, shape (n,)
        The rest point (polished by Newton's method first).
    p : array_like, shape (m,), or dict
        Full parameter vector, or a dict of values overriding the defaults.
    rest_points : array_like, shape (r, n), optional
        Known rest points at `p`.  Arrival at one of its sinks ends a
        branch early, and is reported by its index.  Rest points met that
        are not in the list are found by Newton's method where the orbit
        slows down.
    eps : float
        Distance from `x`, in unstable coordinates, of each orbit's start on
        the local unstable manifold (second order in `eps`).
    t_max : float
        Time limit of each orbit.
    n_directions : int
        Directions sampled on the unit sphere of the unstable eigenspace
        when its dimension exceeds one (a one-dimensional manifold always
        has its two branches).
    box : (array_like, array_like), optional
        Lower and upper corners of the box whose exit counts as escape;
        defaults to twice the system's box, or a wide box around the rest
        points.
    arrive_radius : float
        Radius (relative to ``1 + |sink|``) within which an orbit counts as
        arrived at a sink, shrunk where the linearisation does not dominate.
    method : str
        A `solve_ivp` method, or ``"auto"`` (LSODA with the Jacobian for
        stiff systems, DOP853 otherwise).
    rtol, atol : float
        Integration tolerances.
    order : {1, 2}
        Order of the local unstable manifold at the start.

    Returns
    -------
    list of ManifoldBranch
        Two branches for a one-dimensional unstable manifold, `n_directions`
        for a higher-dimensional one, none for a sink.

    Raises
    ------
    InputError
        When `x` is not near a rest point or is not hyperbolic, or for a
        bad option.

    Notes
    -----
    Each orbit starts on the local unstable manifold (to second order) and
    is integrated by `solve_ivp` (LSODA with the Jacobian when the
    linearisation is stiff).  It stops on arrival within the arrival radius
    of a listed sink, on leaving the box, or where its speed falls to
    `_SLOW_FRACTION` of its initial speed: Newton's method then finds the
    rest point there, which ends the orbit if it is a sink and is passed
    otherwise.  Known shortcoming: arrival is decided only at sinks, so an
    orbit tending to a periodic orbit, or to a saddle along its stable
    manifold (at a connection), ends "undecided" at `t_max`.
    """
    p = _parameter_vector(system, p)
    _check_follow_options(eps, t_max, n_directions, arrive_radius)
    source = _polished_source(system, x, p, order)
    if source.n_unstable == 0:
        return []

    landmarks = _landmarks(system, p, rest_points, arrive_radius)
    points = np.vstack([source.x[None, :], landmarks.points])
    center, half_width = escape_box(system, box, points)

    options = _FollowOptions(
        eps=float(eps), t_max=float(t_max), method=choose_method(method, source),
        rtol=float(rtol), atol=float(atol), center=center, half_width=half_width,
    )  # fmt: skip
    directions = sphere_directions(source.n_unstable, n_directions)
    return [_follow(system, p, source, z, landmarks, options) for z in directions]


def _check_follow_options(eps, t_max, n_directions, arrive_radius):
    """Raise `InputError` for an option of `unstable_manifold_ends` out of range."""
    for name, value in (("eps", eps), ("arrive_radius", arrive_radius)):
        if not 0 < value < 1:
            raise InputError(f"{name} must lie in (0, 1), got {value!r}")

    if not t_max > 0:
        raise InputError(f"t_max must be positive, got {t_max!r}")
    if int(n_directions) < 2:
        raise InputError(f"n_directions must be at least 2, got {n_directions!r}")


def _parameter_vector(system, p):
    """`p` as the full parameter vector (a dict overrides the defaults)."""
    if isinstance(p, dict):
        return system.parameter_vector(p)

    p = np.asarray(p, dtype=float).reshape(-1)
    if p.shape != (system.m,):
        raise InputError(
            f"p must be the full parameter vector of shape ({system.m},) for "
            f"{list(system.parameters)}, got shape {p.shape}"
        )
    return p


def polish_rest_point(system, x, p, name="x"):
    """Polish a given rest point by Newton's method.

    Raises
    ------
    InputError
        When Newton's method fails, or ends farther than `_POLISH_DISTANCE`
        (relative to ``1 + |x|``) from `x`: then `x` was not a rest point.
    """
    x = system.check_state(x, name)
    polished, converged, residual = newton_rest_point(system, x, p)

    moved = np.linalg.norm(polished - x)
    if not converged or moved > _POLISH_DISTANCE * (1.0 + np.linalg.norm(x)):
        raise InputError(
            f"{name} = {np.array2string(x, threshold=8)} is not near a rest point: "
            f"Newton's method ended at {np.array2string(polished, threshold=8)} "
            f"with residual {residual:.3g}; pass a rest point at these parameters"
        )
    return polished


def _polished_source(system, x, p, order):
    """Data of the polished rest point `x`; `InputError` unless hyperbolic."""
    polished = polish_rest_point(system, x, p)
    source = rest_point_data(system, polished, p, order=order)

    if not source.hyperbolic:
        raise InputError(
            f"the rest point {np.array2string(polished, threshold=8)} is not "
            f"hyperbolic (eigenvalues "
            f"{np.array2string(source.eigenvalues, precision=4)}); its unstable "
            "manifold is not defined by the linearisation"
        )
    return source


def sphere_directions(dim, count):
    """Unit vectors spread over the sphere of dimension ``dim - 1``.

    One dimension gives the two signs; two give `count` equally spaced
    angles; more give the ``2 dim`` coordinate directions followed by
    seeded random directions (reproducible) up to `count`.

    Returns
    -------
    ndarray, shape (N, dim)
    """
    if dim == 0:
        return np.zeros((0, 0))
    if dim == 1:
        return np.array([[1.0], [-1.0]])

    if dim == 2:
        angles = 2 * np.pi * np.arange(count) / count
        circle = np.column_stack([np.cos(angles), np.sin(angles)])
        # cos(pi/2) is 6e-17, not 0: keep the axes exact (invariant lines).
        return np.where(np.abs(circle) < 1e-15, 0.0, circle)

    axes = np.vstack([np.eye(dim), -np.eye(dim)])
    extra = np.random.default_rng(0).standard_normal((max(count - 2 * dim, 0), dim))
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.vstack([axes, extra])[: max(count, 2 * dim)]


def _landmarks(system, p, rest_points, arrive_radius):
    """Polish the supplied rest points and give each sink its arrival radius."""
    if rest_points is None:
        empty = np.zeros((0, system.n))
        return _Landmarks(empty, np.zeros(0, bool), np.zeros(0))

    points = np.atleast_2d(np.asarray(rest_points, dtype=float))
    if points.shape[1] != system.n:
        raise InputError(
            f"rest_points must have shape (r, {system.n}), got {points.shape}"
        )

    polished, sinks = _polish_all(system, p, points)
    radius = [
        _arrival_radius(system, p, polished, i, arrive_radius)
        for i in range(len(polished))
    ]
    return _Landmarks(polished, sinks, np.array(radius))


def _polish_all(system, p, points):
    """Newton's method from each point; returns the points and which are sinks."""
    polished, sinks = [], []
    for point in points:
        x, converged, residual = newton_rest_point(system, point, p)
        if not converged:
            logger.warning("rest point %s: residual %.3g after Newton", point, residual)
        polished.append(x)
        sinks.append(converged and rest_point_data(system, x, p, order=1).is_sink)
    return np.array(polished), np.array(sinks, dtype=bool)


def _arrival_radius(system, p, points, index, arrive_radius):
    """Radius around sink `index` inside which the linearisation dominates."""
    x = points[index]
    others = np.delete(points, index, axis=0)
    radius = arrive_radius * (1.0 + np.linalg.norm(x))
    if len(others):
        radius = min(radius, 0.25 * np.min(np.linalg.norm(others - x, axis=1)))

    jac = _dense(system.fx(x, p))
    for _ in range(_ARRIVE_TRIES):
        if _linear_dominates(system, p, x, jac, radius):
            break
        radius /= _ARRIVE_SHRINK
    return radius


def _linear_dominates(system, p, x, jac, radius):
    """Whether |f - f_x dx| <= _LINEAR_DOMINANCE |f_x dx| on the axes at `radius`."""
    for step in np.vstack([np.eye(len(x)), -np.eye(len(x))]) * radius:
        linear = jac @ step
        value = np.asarray(system.rhs(x + step, p), dtype=float)
        if np.linalg.norm(value - linear) > _LINEAR_DOMINANCE * np.linalg.norm(linear):
            return False
    return True


def _follow(system, p, source, z_unit, landmarks, options):
    """Integrate one branch until it arrives, escapes or runs out of time."""
    x0 = source.unstable_point(options.eps * z_unit)
    slow = _SLOW_FRACTION * np.linalg.norm(system.rhs(x0, p))
    masks = [(source.x, _mask_radius(source, slow))]
    times, states = [np.zeros(1)], [x0[:, None]]

    start, t0 = x0, 0.0
    for _ in range(_MAX_PASSES):
        events = _branch_events(system, p, landmarks, options, slow, masks)
        sol = integrate(
            system, start, p, options.t_max - t0,
            method=options.method, rtol=options.rtol, atol=options.atol, events=events,
        )  # fmt: skip
        times.append(t0 + sol.t[1:])
        states.append(sol.y[:, 1:])

        outcome = _classify(system, p, sol, landmarks, masks, slow)
        if outcome.end != "pass":
            break
        start, t0 = sol.y[:, -1], t0 + sol.t[-1]
    else:
        outcome = _Outcome("undecided", message=f"passed {_MAX_PASSES} rest points")

    return ManifoldBranch(
        direction=(x0 - source.x) / np.linalg.norm(x0 - source.x),
        end=outcome.end, target_index=outcome.index, target_x=outcome.target,
        orbit=np.hstack(states).T, t=np.concatenate(times), source=source.x,
        status=outcome.status, message=outcome.message,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Outcome:
    """How one branch (or one segment of it) ended."""

    end: str
    index: int | None = None
    target: np.ndarray | None = None
    status: Status = Status.SUCCESS
    message: str = ""


_ARRIVED = "arrived at a sink"


def _mask_radius(data, slow):
    """Radius around a rest point outside which |f| exceeds the slow threshold."""
    blocks = [data.stable_block, data.unstable_block]
    smallest = min(
        (np.min(np.linalg.svd(b, compute_uv=False)) for b in blocks if b.size),
        default=1.0,
    )
    return _MASK_FACTOR * slow / max(smallest, 1e-300)


def _branch_events(system, p, landmarks, options, slow, masks):
    """Events: [arrival at a sink, escape from the box, slowing down]."""
    sinks = landmarks.points[landmarks.is_sink]
    radius = landmarks.radius[landmarks.is_sink]

    def arrive(_, x):
        if not len(sinks):
            return 1.0
        return float(np.min(np.linalg.norm(sinks - x, axis=1) - radius))

    def slowed(_, x):
        speed = np.linalg.norm(system.rhs(x, p)) - slow
        inside = max(r - np.linalg.norm(x - c) for c, r in masks)
        return float(max(speed, inside))

    return [
        make_event(arrive, direction=-1.0),
        escape_event(options.center, options.half_width),
        make_event(slowed, direction=-1.0),
    ]


def _classify(system, p, sol, landmarks, masks, slow):
    """Read off how one integration segment ended.

    Returns an `_Outcome` whose `end` is ``"pass"`` when the orbit slowed
    near a rest point that is not a sink and is to be followed further.
    """
    if sol.status == -1:
        return _Outcome("undecided", status=Status.FAILED, message=sol.message)

    if sol.t_events[0].size:
        sinks = np.flatnonzero(landmarks.is_sink)
        distance = np.linalg.norm(landmarks.points[sinks] - sol.y_events[0][0], axis=1)
        index = int(sinks[np.argmin(distance)])
        return _Outcome("rest point", index, landmarks.points[index], message=_ARRIVED)

    if sol.t_events[1].size:
        return _Outcome("escaped", message="left the bounding box")
    if sol.t_events[2].size:
        return _slowed_at(system, p, sol.y_events[2][0], landmarks, masks, slow)
    return _Outcome(
        "undecided",
        message="reached t_max without arriving anywhere; raise t_max (the orbit "
        "may approach a periodic orbit or linger near a saddle)",
    )


def _slowed_at(system, p, x, landmarks, masks, slow):
    """Newton's method where the orbit slowed: a sink ends it, others are passed."""
    point, converged, residual = newton_rest_point(system, x, p)
    if not converged:
        return _Outcome(
            "undecided",
            status=Status.NOT_CONVERGED,
            message=f"the orbit slowed down but Newton's method found no rest "
            f"point (residual {residual:.3g}); it may approach a non-hyperbolic one",
        )

    data = rest_point_data(system, point, p, order=1)
    index = _match(landmarks.points, point)
    if data.is_sink:
        return _Outcome("rest point", index, point, message=_ARRIVED)
    masks.append((point, _mask_radius(data, slow)))
    return _Outcome("pass", index, point)


def _match(points, x):
    """Index of the row of `points` equal to `x` up to a small tolerance, or None."""
    if not len(points):
        return None

    distance = np.linalg.norm(points - x, axis=1)
    best = int(np.argmin(distance))
    return best if distance[best] <= _MATCH_TOL * (1.0 + np.linalg.norm(x)) else None
