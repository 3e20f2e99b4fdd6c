"""Branch points: the algebraic branching equation and branch switching.

At a simple branch point y* = (x*, p*) the matrix A = [f_x, f_p] (n x (n+1))
has a two-dimensional null space spanned by phi_1, phi_2 and a left null
vector psi.  The tangents of the branches through y* are the directions
``alpha phi_1 + beta phi_2`` whose coefficients solve the algebraic branching
equation (ABE)

    c11 alpha^2 + 2 c12 alpha beta + c22 beta^2 = 0,
    c_ij = psi . D^2 F(y*)[phi_i, phi_j],

with D^2 F the second derivative of ``(x, p) -> f`` (exact for symbolic
systems).  Two real roots give the two branches: the one closer to the known
tangent is the branch being followed, the other is the new one.  When one of
the two directions has no parameter component, the branch point is a
pitchfork (the ``z^2`` coefficient of the reduced equation vanishes, as
symmetry forces); otherwise it is transcritical.

References
----------
Keller, H. B. (1977), section 5; Govaerts, W. (2000), section 3.3; Kuznetsov,
Yu. A., Elements of Applied Bifurcation Theory, section 10.2.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import scipy.sparse as sp

from . import _continuation
from ._errors import InputError
from ._linalg import bordered, factorize, null_vector
from ._newton import StepError, correct
from ._results import Branch, Diagram, SpecialPoint, _same_point
from ._status import Status

__all__ = ["classify", "switch_branch", "diagram"]

logger = logging.getLogger(__name__)

# A branch direction whose parameter component is below this (unit vectors)
# is vertical: the branch point is a pitchfork.  Second derivatives by finite
# differences are accurate to about 1e-7, symbolic ones to rounding.
_VERTICAL_TOL = 1e-5

# The start of the new branch must lie at least this fraction of the step
# away from the old branch, or the corrector fell back onto it.
_SEPARATION = 0.1

# Null vectors from a dense SVD up to this size (sparse systems above it use
# inverse iteration with the sparse factors).
_DENSE_NULL_MAX = 1500

# Distances of the first point of a new branch from the branch point, as
# fractions of ds, tried in turn (not 1: the first step back, of length ds,
# would land on the branch point itself).
_FIRST_STEPS = (0.6, 0.15, 2.4)
# ... then shorter ones, each this fraction of the last, down to this size
# (a parameter range may end just past the branch point).
_FIRST_STEP_SHRINK = 0.25
_FIRST_STEP_MIN = 1e-6

# The new branch passes through its branch point when one of its steps comes
# within this fraction of the step's length of it (the chord of a step misses
# the curved branch by O(length^2) times the curvature).
_PASSAGE_RTOL = 0.25


def classify(problem, point, tangent):
    """Kind and branching data of a located branch point.

    Parameters
    ----------
    problem : continuation problem
        With ``evaluator``, ``system``, ``k`` and ``p_fixed``.
    point : point
        The located point (``y``, ``row``).
    tangent : ndarray, shape (n + 1,)
        Tangent of the branch being followed, near the point.

    Returns
    -------
    kind : str
        ``"pitchfork"``, ``"transcritical"`` or ``"branch-point"`` (the
        branching equation has no two distinct real roots).
    data : dict
        ``"directions"``: unit tangents (known, new) in (x, p); ``"coefficients"``:
        (c11, c12, c22); ``"null_vectors"``: phi_1, phi_2.
    """
    try:
        phi, psi = _null_vectors(problem, point)
        coefficients = _abe_coefficients(problem, point.y, phi, psi)
    except (StepError, np.linalg.LinAlgError) as failure:
        logger.warning("branch point not classified: %s", failure)
        return "branch-point", {}

    directions = _abe_roots(coefficients, phi)
    data = {"coefficients": tuple(coefficients), "null_vectors": tuple(phi)}
    if directions is None:
        return "branch-point", data

    known = tangent / np.linalg.norm(tangent)
    first, second = directions
    if abs(first @ known) < abs(second @ known):
        first, second = second, first
    # Orient the new direction canonically (largest component positive) so
    # that switched branches do not depend on the signs of null vectors.
    second = second * np.sign(second[np.argmax(np.abs(second))])
    data["directions"] = (np.sign(first @ known) * first, second)

    vertical = min(abs(first[-1]), abs(second[-1])) <= _VERTICAL_TOL
    return ("pitchfork" if vertical else "transcritical"), data


def _null_vectors(problem, point):
    """Null vectors phi_1, phi_2 of A = [f_x, f_p] and its left null vector psi.

    Dense systems: the singular value decomposition of A.  Sparse ones:
    inverse iteration with the bordered matrices [A; row] (whose null vector
    phi_1 is orthogonal to ``row``) and [A; phi_1^T] (giving phi_2).
    """
    ev = problem.evaluator
    jac, fp = ev.jacobian(point.y)
    if not sp.issparse(jac) or problem.n <= _DENSE_NULL_MAX:
        dense = jac.toarray() if sp.issparse(jac) else np.asarray(jac)
        u, _, vt = np.linalg.svd(np.column_stack([dense, fp]))
        return (vt[-1], vt[-2]), u[:, -1]

    lu = factorize(bordered(jac, fp, point.row))
    first = null_vector(lu)
    left = null_vector(lu, transpose=True)[:-1]
    second = null_vector(factorize(bordered(jac, fp, first)))
    second -= (second @ first) * first

    return (first, second / np.linalg.norm(second)), left / np.linalg.norm(left)


def _abe_coefficients(problem, y, phi, psi):
    """(c11, c12, c22) of the algebraic branching equation."""
    system, k = problem.system, problem.k
    x, p = y[:-1], problem.evaluator.params(y[-1])
    c11 = psi @ system.fxx(x, p, k, phi[0], phi[0])
    c12 = psi @ system.fxx(x, p, k, phi[0], phi[1])
    c22 = psi @ system.fxx(x, p, k, phi[1], phi[1])

    return np.array([c11, c12, c22], dtype=float)


def _abe_roots(coefficients, phi):
    """The two unit directions solving the branching equation, or None.

    Writes ``alpha = cos t, beta = sin t``: the equation becomes
    ``m + r cos(2t - a) = 0`` with ``m = (c11 + c22)/2``.
    """
    c11, c12, c22 = coefficients
    mean, half = 0.5 * (c11 + c22), 0.5 * (c11 - c22)
    radius = math.hypot(half, c12)
    scale = max(abs(c11), abs(c12), abs(c22))

    if scale == 0 or radius <= 1e-12 * scale or abs(mean) >= radius:
        return None
    angle = math.atan2(c12, half)
    spread = math.acos(-mean / radius)
    roots = [(angle + spread) / 2, (angle - spread) / 2]

    return [math.cos(t) * phi[0] + math.sin(t) * phi[1] for t in roots]


def switch_branch(branch, special_point, **options):
    """Follow the other branch through a branch point.

    Parameters
    ----------
    branch : Branch
        The branch on which `special_point` was found.
    special_point : SpecialPoint
        A BP of `branch` (``special_point.label == "BP"``).
    **options
        As for `bifurc.continuation` (``p_range`` defaults to the branch's;
        ``options``, ``ds``, ``ds_max``, ...).

    Returns
    -------
    Branch
        The new branch, through the branch point, in both directions.  When
        no distinct branch can be started, a one-point branch with
        ``Status.FAILED`` and a message saying why.

    Raises
    ------
    InputError
        If `special_point` is not a branch point with branching directions.
    """
    if special_point.label != "BP" or "directions" not in special_point.data:
        raise InputError(
            f"switch_branch needs a classified BP, got {special_point.label} "
            f"({special_point.kind}) at {special_point.param} = {special_point.value:g}"
        )
    p_range = options.pop("p_range", branch.p_range)

    opts = _continuation.make_options(options.pop("options", None), **options)
    problem = _continuation._Problem(
        branch.system,
        branch.param,
        p_range,
        special_point.value,
        _other_params(branch),
        opts,
    )

    known, new = special_point.data["directions"]
    y_bp = np.append(special_point.x, special_point.value)
    start, h, reason = _first_point(problem, y_bp, known, new)

    if start is None:
        return _failed(problem, y_bp, new, reason)
    problem.move_start(start[-1])
    # A short first step means a small room for the new branch: its first
    # steps must not overshoot that room either.
    if h < min(_FIRST_STEPS) * problem.options.step:
        ds = math.copysign(max(h, problem.options.ds_min), problem.options.ds)
        problem.options = dataclasses.replace(problem.options, ds=ds)
    branch = _continuation.run_from(problem, start[:-1], hint=new)

    return _with_start_point(branch, special_point, problem)


def _other_params(branch):
    """The branch's fixed parameters as a dict (the continued one excluded)."""
    names = branch.system.parameters
    return {
        name: float(value)
        for i, (name, value) in enumerate(zip(names, branch.p_fixed, strict=True))
        if i != branch.param_index
    }


def _first_point(problem, y_bp, known, new):
    """A point on the new branch near the branch point: ``(y, h, None)``.

    Distances are tried in the order of `_FIRST_STEPS`, then shorter and
    shorter ones (down to `_FIRST_STEP_MIN` of ds), so that a parameter range
    ending just past the branch point still admits the new branch.

    Returns
    -------
    y : ndarray, shape (n + 1,) or None
    h : float
        Its distance from the branch point (weighted norm).
    reason : str or None
        Why no point was found.
    """
    weights = problem.weights(y_bp)
    unit = new / math.sqrt(weights @ (new * new))
    reason = "the corrector fell back onto the known branch"

    for fraction in _first_fractions():
        h = fraction * problem.options.step
        y = _corrected_first(problem, y_bp, unit, weights, h)
        if y is None or not _separated(y - y_bp, known):
            continue
        if problem.lo <= y[-1] <= problem.hi:
            return y, h, None
        reason = "the new branch leaves the parameter range"

    return None, math.nan, reason


def _first_fractions():
    """Distances of the first point, as fractions of ds, in the order tried."""
    fractions = list(_FIRST_STEPS)
    shorter = min(_FIRST_STEPS) * _FIRST_STEP_SHRINK
    while shorter >= _FIRST_STEP_MIN:
        fractions.append(shorter)
        shorter *= _FIRST_STEP_SHRINK

    return fractions


def _corrected_first(problem, y_bp, unit, weights, h):
    """The point at distance h from y_bp along `unit`, corrected (or None)."""
    ev, opts = problem.evaluator, problem.options
    try:
        fix = correct(
            ev,
            y_bp + h * unit,
            y_bp,
            weights * unit,
            h,
            None,
            weights,
            tol=opts.newton_tol,
            max_iter=opts.max_newton,
            reuse=0.0,
            reach=h,
        )
    except StepError:
        return None

    return fix.y


def _separated(offset, known):
    """Whether an offset from the branch point leaves the known branch."""
    off_old = offset - (offset @ known) * known
    return np.linalg.norm(off_old) >= _SEPARATION * np.linalg.norm(offset) > 0


def _failed(problem, y, direction, reason):
    """A well-formed one-point branch at the branch point, FAILED."""
    n, p = problem.n, float(y[-1])
    tangent = direction / np.linalg.norm(direction)
    n_unstable, eigenvalues = _stability_at(problem, y)
    ends = [
        SpecialPoint(
            label="EP",
            kind="end",
            param=problem.param,
            value=p,
            x=y[:-1].copy(),
            index=0,
            tangent=tangent.copy(),
            bracket=(p, p),
            precision=0.0,
            residual=float(np.max(np.abs(problem.evaluator.f(y)), initial=0.0)),
            n_unstable=(n_unstable, n_unstable),
            data={"arclength": 0.0, "status": Status.FAILED.code},
        )
        for _ in range(2)
    ]

    return Branch(
        system=problem.system,
        param=problem.param,
        param_index=problem.k,
        p_fixed=problem.p_fixed.copy(),
        x=y[None, :-1].copy(),
        p=y[-1:].copy(),
        s=np.zeros(1),
        tangent=tangent.reshape(1, n + 1),
        n_unstable=np.array([n_unstable]),
        eigenvalues=[np.asarray(eigenvalues, dtype=complex)],
        special_points=tuple(ends),
        status=Status.FAILED,
        message=f"branch switching failed: {reason}",
        p_range=(problem.lo, problem.hi),
    )


def _stability_at(problem, y):
    """``(n_unstable, eigenvalues)`` at y, or ``(-1, [])`` if not computable."""
    try:
        jac = problem.evaluator.jacobian(y)[0]
        count, values = problem.stability.evaluate(problem.evaluator, y, jac)
    except (StepError, np.linalg.LinAlgError, ValueError) as failure:
        logger.info("no stability at the branch point: %s", failure)
        return -1, np.empty(0)

    return int(count), (np.empty(0) if values is None else values)


def _with_start_point(branch, origin, problem):
    """The new branch reporting the branch point it was started from.

    The new branch passes through the branch point, where its own test
    functions see it again, located less well than on the parent branch (the
    new branch may turn there, as a pitchfork's does).  LPs and BPs located
    in the step through the branch point are replaced by the parent's BP,
    placed at the step's closest approach to it.
    """
    y_bp = np.append(origin.x, origin.value)
    where = _passage(branch, y_bp, problem)
    if where is None:
        return branch
    i, fraction = where

    segment = np.append(branch.x[i + 1], branch.p[i + 1]) - np.append(
        branch.x[i], branch.p[i]
    )
    keep = [
        sp
        for sp in branch.special_points
        if not (sp.label in ("LP", "BP") and sp.index == i)
    ]
    point = _start_point(branch, origin, i, fraction, segment)

    ordered = sorted(keep[1:-1] + [point], key=lambda sp: sp.data["arclength"])
    return dataclasses.replace(branch, special_points=(keep[0], *ordered, keep[-1]))


def _passage(branch, y_bp, problem):
    """``(i, fraction)``: where the branch passes y_bp between points i, i+1.

    None when no step of the branch passes within `_PASSAGE_RTOL` of its
    length of the branch point (the run stopped before it), or when the
    branch point is one of the branch's ends.
    """
    ys = np.column_stack([branch.x, branch.p])
    weights = problem.weights(y_bp)
    best = None

    for i in range(len(branch) - 1):
        segment, offset = ys[i + 1] - ys[i], y_bp - ys[i]
        length2 = weights @ (segment * segment)
        fraction = (weights @ (offset * segment)) / length2 if length2 > 0 else -1.0
        if not 0.0 < fraction < 1.0:
            continue
        miss = offset - fraction * segment
        distance2 = (weights @ (miss * miss)) / length2
        if distance2 <= _PASSAGE_RTOL**2 and (best is None or distance2 < best[0]):
            best = (distance2, i, fraction)

    return None if best is None else best[1:]


def _start_point(branch, origin, i, fraction, segment):
    """The parent's BP as a special point of the new branch's step i."""
    known, new = origin.data["directions"]
    tangent = new * (1.0 if new @ segment >= 0 else -1.0)
    arclength = branch.s[i] + fraction * (branch.s[i + 1] - branch.s[i])
    data = dict(origin.data)

    data.update(arclength=float(arclength), directions=(tangent, known))
    return dataclasses.replace(
        origin,
        index=i,
        tangent=tangent / np.linalg.norm(tangent),
        n_unstable=(int(branch.n_unstable[i]), int(branch.n_unstable[i + 1])),
        data=data,
    )


def diagram(system, x0, param, p_range, *, max_depth=3, **options):
    """Continue a branch and switch at every branch point found, recursively.

    Parameters
    ----------
    system, x0, param, p_range
        As for `bifurc.continuation`.
    max_depth : int
        How many generations of branches to follow (1: the primary branch and
        those switched to at its BPs).
    **options
        As for `bifurc.continuation`.

    Returns
    -------
    Diagram
        Each branch point joins exactly two branches: switching happens only
        at a BP found so far on a single branch.
    """
    if not isinstance(max_depth, int) or max_depth < 0:
        raise InputError(f"max_depth must be a non-negative integer, got {max_depth!r}")
    primary = _continuation.continuation(system, x0, param, p_range, **options)
    branches, origins, depths = [primary], [None], [0]
    options = {k: v for k, v in options.items() if k not in ("p0", "params")}

    i = 0
    while i < len(branches) and not _interrupted(branches):
        for j, point in enumerate(branches[i].special_points):
            if depths[i] >= max_depth or not _needs_switch(point, branches):
                continue
            new = switch_branch(branches[i], point, p_range=p_range, **options)
            branches.append(new)
            origins.append((i, j))
            depths.append(depths[i] + 1)
            if _interrupted(branches):
                break
        i += 1

    worst = min(branches, key=lambda b: _continuation.severity(b.status))
    message = f"{len(branches)} branches; worst: {worst.message}"
    return Diagram(tuple(branches), tuple(origins), worst.status, message)


def _interrupted(branches):
    return branches[-1].status is Status.INTERRUPTED


def _needs_switch(point, branches):
    """Whether a BP has been met on one branch only so far."""
    if point.label != "BP" or "directions" not in point.data or not point.converged:
        return False
    found_on = sum(
        any(_same_point(point, other) for other in branch.special_points)
        for branch in branches
    )

    return found_on < 2
