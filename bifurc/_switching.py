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

import logging
import math

import numpy as np
import scipy.sparse as sp

from . import _continuation
from ._errors import InputError
from ._linalg import bordered, factorize, null_vector
from ._newton import StepError, correct
from ._results import Branch, Diagram, _same_point
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
    start = _first_point(problem, y_bp, known, new)

    if start is None:
        return _failed(problem, y_bp, "the corrector fell back onto the known branch")
    if not problem.lo <= start[-1] <= problem.hi:
        return _failed(problem, y_bp, "the new branch leaves the parameter range")
    problem.move_start(start[-1])

    return _continuation.run_from(problem, start[:-1], hint=new)


def _other_params(branch):
    """The branch's fixed parameters as a dict (the continued one excluded)."""
    names = branch.system.parameters
    return {
        name: float(value)
        for i, (name, value) in enumerate(zip(names, branch.p_fixed, strict=True))
        if i != branch.param_index
    }


def _first_point(problem, y_bp, known, new):
    """A converged point on the new branch near the branch point, or None."""
    ev, opts = problem.evaluator, problem.options
    weights = problem.weights(y_bp)
    unit = new / math.sqrt(weights @ (new * new))
    row = weights * unit

    for fraction in _FIRST_STEPS:
        h = fraction * opts.step
        try:
            fix = correct(
                ev,
                y_bp + h * unit,
                y_bp,
                row,
                h,
                None,
                weights,
                tol=opts.newton_tol,
                max_iter=opts.max_newton,
                reuse=0.0,
                reach=h,
            )
        except StepError:
            continue
        offset = fix.y - y_bp
        off_old = offset - (offset @ known) * known
        if np.linalg.norm(off_old) >= _SEPARATION * np.linalg.norm(offset) > 0:
            return fix.y

    return None


def _failed(problem, y, reason):
    n = problem.n
    return Branch(
        system=problem.system,
        param=problem.param,
        param_index=problem.k,
        p_fixed=problem.p_fixed.copy(),
        x=y[None, :-1].copy(),
        p=y[-1:].copy(),
        s=np.zeros(1),
        tangent=np.zeros((1, n + 1)),
        n_unstable=np.array([-1]),
        eigenvalues=[np.empty(0, complex)],
        special_points=(),
        status=Status.FAILED,
        message=f"branch switching failed: {reason}",
        p_range=(problem.lo, problem.hi),
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
