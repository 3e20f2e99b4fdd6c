"""Test functions for special points and their location on a branch.

Every kind of special point is a `TestFunction`: a value computed at each
accepted point from what the corrector already produced, a rule for when the
value changes between two points, and a way to locate the point in between.
The continuation loop treats them all alike.

* ``LP`` (fold): the parameter component of the tangent changes sign.
* ``BP`` (branch point): the sign of ``det [[f_x, f_p], [t^T]]`` changes; the
  sign comes from the corrector's LU factors.  A fold that coincides with a
  branch point is reported as the branch point only.
* ``H`` (Hopf): the number of complex eigenvalues with positive real part
  changes.  Only complex pairs count, so a neutral saddle (a real pair
  +/-lambda) is never taken for a Hopf point.

Location is a bracketed root search (the Illinois variant of regula falsi,
with bisection as a safeguard) on a continuous version of the test function,
each evaluation being a point corrected onto the branch at a given arclength
from the left end of the step.  For H the bracket is kept by the count of
unstable complex eigenvalues itself, and the continuous function (the real
part of the complex eigenvalue nearest the imaginary axis, re-solved at each
trial point) only proposes trial points; a located H whose eigenvalue does
not cross the axis continuously is not reported.

References
----------
Govaerts, W. (2000). Numerical Methods for Bifurcations of Dynamical
Equilibria, ch. 4.  Kuznetsov, Yu. A. Elements of Applied Bifurcation Theory,
ch. 10.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from . import _switching
from ._linalg import singularity
from ._results import SpecialPoint

__all__ = [
    "TestFunction",
    "FoldTest",
    "BranchPointTest",
    "HopfTest",
    "Locator",
    "RootResult",
    "make_tests",
]

logger = logging.getLogger(__name__)

# Bracket shrinking: give up after this many test-function evaluations.
_MAX_LOCATE_EVALUATIONS = 60

# The located point must also be resolved in arclength (weighted), so that
# the state, not only the parameter, is accurate (the parameter is flat in
# arclength at a fold).
_SIGMA_TOL = 1e-9

# Between the two ends of a located Hopf bracket the crossing eigenvalue may
# move by this much (relative to its size); a larger difference means the
# eigenvalues nearest the axis at the two ends are different ones.
_PAIR_JUMP_RTOL = 1e-6

# Real parts of eigenvalues within this many ulps of the spectrum's size are
# rounding errors (LAPACK's eigenvalues are backward stable).
_AXIS_ULPS = 64
_EPS = float(np.finfo(float).eps)

# An eigenvalue whose imaginary part is below this fraction of its modulus
# (plus an absolute floor) counts as real.
_IMAG_RTOL = 1e-8
_IMAG_ATOL = 1e-12

# At a located fold or branch point the smallest singular value of f_x must
# be below this fraction of its values at the ends of the step (it vanishes
# linearly there, so the location error sets the fraction).
_SINGULAR_RTOL = 1e-3

# Branch points are interpolated from points this fraction of the step away
# (where they are well-conditioned); the interpolation error is O(fraction^4).
_BP_STENCIL = 1e-3

# Newton steps polishing a zero of an interpolating polynomial.
_POLISH_STEPS = 3

# Rounding allowance (in units in the last place of the parameter and the
# arclength) added to the error bound of an interpolated zero.
_ROUNDING_ULPS = 8

# Two special points of one step closer than this in arclength (relative to
# the step) are the same point: the resolution of branch-point location,
# whose neighbourhood is ill-conditioned for every other test function.
_COINCIDE_RTOL = _BP_STENCIL


@dataclasses.dataclass
class RootResult:
    """A located zero of a test function within one step.

    Attributes
    ----------
    sigma : float
        Arclength of the zero from the left end of the step.
    point : object
        The corrected branch point there.
    value : float
        Test function value there.
    bracket : tuple of float
        Final bracket in the parameter.
    iterations : int
    converged : bool
    sigmas : tuple of float
        Final bracket in arclength.
    """

    sigma: float
    point: object
    value: float
    bracket: tuple
    iterations: int
    converged: bool
    sigmas: tuple = ()


class Locator:
    """Corrected points inside one continuation step and root finding on them.

    Parameters
    ----------
    point_at : callable
        ``point_at(sigma, lu) -> point``: the branch point at arclength
        `sigma` from the left end, with ``.y``, ``.tangent``, ``.lu`` and
        ``.all_eigenvalues()``; `lu` is the factorisation at the left end
        (or None), to correct with first.
    left, right : point
        The accepted points that end the step.
    length : float
        Arclength of `right` from `left`.
    context : object
        The continuation problem (system, parameter index, tolerances).
    """

    def __init__(self, point_at, left, right, length, context):
        self._point_at = point_at
        self.left, self.right, self.length = left, right, length
        self.context = context
        self._cache = {}

    def point(self, sigma):
        """The corrected point at arclength `sigma` (cached).

        Only the point at 0 keeps its factorisation (the anchor of the
        corrector); the others keep their test values and the sign and size
        of their determinant, so that a sparse search holds two
        factorisations at a time, not one per trial point.
        """
        if sigma not in self._cache:
            anchor = self._cache.get(0.0)
            point = self._point_at(sigma, anchor.lu if anchor else None)
            if sigma != 0.0 and point is not self.right and point.lu is not None:
                point.lu.release()
            self._cache[sigma] = point

        return self._cache[sigma]

    def find_root(self, test, width=None):
        """Locate the zero of ``test(point) -> float`` within the step.

        Parameters
        ----------
        test : callable
            A continuous function of the branch point whose sign differs at
            the two ends of the step.
        width : float, optional
            Stop when the bracket is this narrow in arclength (instead of
            the parameter and arclength tolerances).

        Returns
        -------
        RootResult or None
            None when the ends have the same sign (a false alarm).
        """
        a, b = 0.0, self.length
        ga, gb = test(self.point(a)), test(self.point(b))
        if ga == 0 or gb == 0:
            sigma = a if ga == 0 else b
            return self._result(sigma, 0.0, (sigma, sigma), 2, True)

        if np.sign(ga) == np.sign(gb):
            return None
        return self._illinois(test, a, b, ga, gb, width)

    def _illinois(self, test, a, b, ga, gb, width):
        """Illinois regula falsi keeping a sign-change bracket [a, b]."""
        side, evaluations = 0, 2
        while evaluations < _MAX_LOCATE_EVALUATIONS:
            if self._resolved(a, b, width):
                break
            c = (a * gb - b * ga) / (gb - ga)
            if not (min(a, b) < c < max(a, b)) or evaluations % 6 == 5:
                c = 0.5 * (a + b)
            gc = test(self.point(c))
            evaluations += 1
            if gc == 0:
                return self._result(c, gc, (c, c), evaluations, True)

            if np.sign(gc) == np.sign(gb):
                b, gb = c, gc
                ga = ga * 0.5 if side == -1 else ga
                side = -1
            else:
                a, ga = c, gc
                gb = gb * 0.5 if side == 1 else gb
                side = 1

        best = a if abs(ga) <= abs(gb) else b
        converged = self._resolved(a, b, width)
        return self._result(best, min(abs(ga), abs(gb)), (a, b), evaluations, converged)

    def _resolved(self, a, b, width=None):
        """Whether the bracket meets the parameter and arclength tolerances."""
        if width is not None:
            return abs(b - a) <= width
        pa, pb = self.point(a).y[-1], self.point(b).y[-1]
        p_tol = self.context.options.locate_tol * max(1.0, abs(pa))

        return abs(pa - pb) <= p_tol and abs(b - a) <= _SIGMA_TOL * max(1.0, abs(b))

    def _result(self, sigma, value, sigmas, evaluations, converged):
        ps = sorted(float(self.point(s).y[-1]) for s in sigmas)
        return RootResult(
            sigma,
            self.point(sigma),
            value,
            tuple(ps),
            evaluations,
            converged,
            tuple(sorted(sigmas)),
        )

    def interpolated_root(self, test, root, width):
        """Refine a bracketed zero by cubic interpolation through nearby points.

        Next to a branch point the corrected points themselves are
        ill-conditioned (the crossing branch is close), so the zero and the
        state there are interpolated from four points a stencil width
        ``h >= width`` away, where they are well-determined: the error is
        O(h^4).  The error bound adds the interpolation error estimate (see
        `_interpolated_zero`) to the difference from the same construction
        with width 2h, which exposes noise in the corrected points when h is
        too small for their conditioning.

        Returns
        -------
        RootResult
            Its ``point`` is built at the interpolated state; its bracket is
            the parameter value plus or minus the error bound.
        """
        a, b = root.sigmas
        center, spacing = 0.5 * (a + b), max(b - a, width)
        sigma, y, error = self._interpolated_zero(test, center, spacing)
        wide = self._interpolated_zero(test, center, 2 * spacing)
        p = float(y[-1])

        error += abs(wide[1][-1] - p)
        converged = error <= self.context.options.locate_tol * max(1.0, abs(p))
        return RootResult(
            sigma,
            self._point_at_state(y, sigma),
            0.0,
            (p - error, p + error),
            root.iterations + 8,
            converged,
            (sigma, sigma),
        )

    def _interpolated_zero(self, test, center, spacing):
        """Zero of the cubic through four corrected points: ``(sigma, y, error)``.

        `error` bounds the parameter's interpolation error by comparison with
        the quadratic through the three nodes nearest the zero, both in the
        zero's arclength (moved along the interpolated branch) and in the
        state there.
        """
        nodes = _stencil(center, spacing, self.length)
        points = [self.point(s) for s in nodes]
        values = np.array([test(point) for point in points])
        states = np.array([point.y for point in points])

        sigma = _polynomial_root(nodes, values, center)
        near = np.argsort(np.abs(nodes - sigma))[:3]
        moved = abs(_polynomial_root(nodes[near], values[near], sigma) - sigma)
        y = _lagrange(nodes, states, sigma)

        return sigma, y, _interpolation_error(nodes, states, sigma, moved, near)

    def _point_at_state(self, y, sigma):
        """A branch point object at an interpolated state (no correction)."""
        tangent = self.interpolated_tangent(sigma)
        return self.context.make_point(y, self.right.row, fallback=tangent)

    def singular(self, point):
        """Whether f_x is singular at a located point (LP and BP must be).

        The smallest singular value of f_x there must be far below its values
        at the two ends of the step; this rejects sign changes of a test
        function made by rounding errors (e.g. far out on a branch where f_p
        dwarfs f_x).
        """
        jacobian = self.context.evaluator.jacobian
        here = singularity(jacobian(point.y)[0])
        ends = max(singularity(jacobian(end.y)[0]) for end in (self.left, self.right))

        if here <= _SINGULAR_RTOL * ends:
            return True
        logger.info(
            "sign change at %s = %.12g rejected: f_x is regular there (smallest "
            "singular value %.3g, %.3g at the step's ends)",
            self.context.param,
            point.y[-1],
            here,
            ends,
        )

        return False

    def interpolated_tangent(self, sigma):
        """Unit tangent at `sigma` blended from the tangents of the step's ends."""
        fraction = sigma / self.length
        tangent = (1 - fraction) * self.left.tangent + fraction * self.right.tangent
        return tangent / np.linalg.norm(tangent)

    def special(self, label, kind, root, data=None, tangent=None):
        """Build the `SpecialPoint` for a located root."""
        ctx, point = self.context, root.point
        tangent = point.tangent if tangent is None else tangent
        tangent = tangent / np.linalg.norm(tangent)
        residual = float(np.max(np.abs(ctx.evaluator.f(point.y)), initial=0.0))
        extra = {"arclength": self.left.s + root.sigma}
        extra.update(data or {})

        return SpecialPoint(
            label=label,
            kind=kind,
            param=ctx.param,
            value=float(point.y[-1]),
            x=point.y[:-1].copy(),
            index=-1,
            tangent=tangent,
            converged=bool(root.converged),
            bracket=tuple(float(end) for end in root.bracket),
            precision=float(root.bracket[1] - root.bracket[0]),
            iterations=int(root.iterations),
            residual=residual,
            n_unstable=(self.left.n_unstable, self.right.n_unstable),
            data=extra,
        )


class TestFunction:
    """Interface of a special-point detector.

    Attributes
    ----------
    label : str
        The special point's label.
    crossings : int
        Eigenvalues crossing the imaginary axis at such a point (used to check
        the change in the unstable count over a step).
    suppressed_by : tuple of str
        Labels of detectors whose point, at the same place, replaces this one.
    """

    label = ""
    kind = ""
    crossings = 1
    suppressed_by = ()

    def value(self, point):
        """The test value at an accepted point (cheap: no new factorisation)."""
        raise NotImplementedError

    def changed(self, left, right):
        """Whether the values at two consecutive points bracket a special point."""
        return left * right < 0

    def locate(self, locator):
        """Locate the special point inside the step; a `SpecialPoint` or None."""
        raise NotImplementedError


class FoldTest(TestFunction):
    """Fold (LP): zero of the tangent's parameter component."""

    label = "LP"
    kind = "saddle-node"
    suppressed_by = ("BP",)

    def value(self, point):
        return point.tangent[-1]

    def locate(self, locator):
        root = locator.find_root(lambda point: point.tangent[-1])
        if root is None or not locator.singular(root.point):
            return None

        return locator.special("LP", "saddle-node", root)


class BranchPointTest(TestFunction):
    """Branch point (BP): sign change of the augmented Jacobian's determinant."""

    label = "BP"
    kind = "branch-point"

    def value(self, point):
        return float(point.bp_sign)

    def locate(self, locator):
        reference = locator.point(0.0).lu.log_abs_det

        def test(point):
            return point.lu.scaled_det(reference)

        width = _BP_STENCIL * locator.length
        root = locator.find_root(test, width=width)
        if root is None:
            return None
        root = locator.interpolated_root(test, root, width)

        if not locator.singular(root.point):
            return None
        # The bordered matrix is singular here, so its tangent is not the
        # branch's: interpolate those of the step's ends instead.
        tangent = locator.interpolated_tangent(root.sigma)
        kind, data = _switching.classify(locator.context, root.point, tangent)

        return locator.special("BP", kind, root, data, tangent=tangent)


class HopfTest(TestFunction):
    """Hopf (H): a complex pair crosses the imaginary axis."""

    label = "H"
    kind = "hopf"
    crossings = 2

    def value(self, point):
        values = point.eigenvalues
        if values is None:
            return math.nan
        unstable = values[(values.real > 0) & _is_complex(values)]

        return float(unstable.size)

    def changed(self, left, right):
        return left != right and not (math.isnan(left) or math.isnan(right))

    def locate(self, locator):
        search = _HopfSearch(locator)
        found = search.followed()
        if found is None and search.collision():
            logger.info(
                "complex pair and real eigenvalues exchanged right of the axis "
                "near %s = %.12g: not a Hopf point",
                locator.context.param,
                locator.right.y[-1],
            )
            return None
        if found is None:
            found = search.bracket()
        if found is None:
            return None
        a, b, evaluations = found

        search.make_exact(a)
        search.make_exact(b)
        resolved = bool(locator._resolved(a, b))
        crossing = search.crossing(a, b)
        if resolved and not crossing:
            logger.info(
                "change of the complex unstable count at %s = %.12g is not a "
                "Hopf point (no complex pair on the imaginary axis)",
                locator.context.param,
                locator.point(a).y[-1],
            )
            return None

        best = a if abs(search.nearest(a).real) <= abs(search.nearest(b).real) else b
        root = locator._result(
            best, search.nearest(best).real, (a, b), evaluations, False
        )
        root.converged = resolved and crossing
        frequency = abs(search.nearest(best).imag)

        return locator.special("H", "hopf", root, {"frequency": frequency})


def _stencil(center, spacing, length):
    """Four nodes ``center + spacing * (-1.5, -0.5, 0.5, 1.5)`` inside [0, length]."""
    if 3 * spacing >= length:
        return np.linspace(0.0, length, 4)
    nodes = center + spacing * np.array([-1.5, -0.5, 0.5, 1.5])
    nodes -= min(nodes[0], 0.0)
    nodes -= max(nodes[-1] - length, 0.0)

    return nodes


def _polynomial_root(nodes, values, guess):
    """The real zero nearest `guess` of the polynomial through the nodes.

    The roots of the fitted polynomial come from its companion matrix, which
    is ill-conditioned when the data are nearly linear (tiny leading
    coefficient); the chosen root is therefore polished by Newton's method.
    """
    fit = np.polynomial.Polynomial.fit(nodes, values, len(nodes) - 1)
    roots = fit.roots()
    real = roots[np.abs(roots.imag) <= 1e-8 * (1 + np.abs(roots.real))].real
    sigma = guess if real.size == 0 else float(real[np.argmin(np.abs(real - guess))])

    slope = fit.deriv()
    for _ in range(_POLISH_STEPS):
        derivative = slope(sigma)
        if derivative == 0 or not np.isfinite(derivative):
            break
        sigma -= fit(sigma) / derivative

    return float(sigma)


def _interpolation_error(nodes, states, sigma, moved, near):
    """Bound on the parameter error of an interpolated zero.

    The state at `sigma` is compared with the quadratic through the three
    nodes `near`, and the interpolated parameter is scanned over the
    arclength uncertainty ``sigma +/- moved``; rounding adds a few ulps.
    """
    y = _lagrange(nodes, states, sigma)
    state_error = float(np.max(np.abs(y - _lagrange(nodes[near], states[near], sigma))))
    scan = sigma + moved * np.linspace(-1.0, 1.0, 9)
    p_values = np.array([_lagrange(nodes, states[:, -1:], s)[0] for s in scan])
    spread = float(np.max(np.abs(p_values - y[-1])))
    rounding = _ROUNDING_ULPS * np.spacing(max(abs(y[-1]), np.max(np.abs(nodes))))

    return state_error + spread + float(rounding)


def _lagrange(nodes, values, sigma):
    """Value at `sigma` of the polynomial through ``(nodes[i], values[i])``."""
    result = np.zeros(values.shape[1:])
    for i, node in enumerate(nodes):
        others = np.delete(nodes, i)
        weight = np.prod((sigma - others) / (node - others))
        result = result + weight * values[i]

    return result


def _is_complex(values):
    """Mask of eigenvalues with a non-negligible imaginary part."""
    return np.abs(values.imag) > _IMAG_RTOL * np.abs(values) + _IMAG_ATOL


class _HopfSearch:
    """Bracket of a Hopf point, checked by the count of unstable complex eigenvalues.

    The fast way (`followed`) follows the complex eigenvalue that crosses
    the axis between the ends of the step: at each trial point only the
    eigenvalue nearest its predicted value is computed (inverse iteration,
    one complex factorisation), and regula falsi (Illinois) acts on its real
    part.  The bracket it leaves is accepted only if all eigenvalues at its
    two ends confirm it: one complex eigenvalue moves continuously across
    (or onto) the axis, while the count of complex eigenvalues with
    positive real part differs at the ends of the step.  Otherwise
    `bracket` starts again on that count itself, free of any pairing of
    eigenvalues between points, with all eigenvalues at every trial point.
    """

    def __init__(self, locator):
        self.locator = locator
        self._spectra = {}
        self._exact = set()

    def _point(self, sigma):
        """The point at `sigma`; the step's own left end at 0 (with its spectrum)."""
        return self.locator.left if sigma == 0 else self.locator.point(sigma)

    def spectrum(self, sigma):
        """Eigenvalues of f_x at arclength `sigma` (cached)."""
        if sigma not in self._spectra:
            point = self._point(sigma)
            values = point.eigenvalues
            if values is None or values.size == 0:
                values = point.all_eigenvalues()
                self._exact.add(sigma)
            self._spectra[sigma] = values
        return self._spectra[sigma]

    def make_exact(self, sigma):
        """Replace the cached eigenvalues at `sigma` by all of them."""
        if sigma not in self._exact:
            self._spectra[sigma] = self._point(sigma).all_eigenvalues()
            self._exact.add(sigma)

    def followed(self):
        """``(a, b, evaluations)`` by following one eigenvalue, or None."""
        a, b = 0.0, self.locator.length
        pair = self._crossing_pair(a, b)
        if pair is None or self.count(a) == self.count(b):
            return None
        start, end = pair
        ga, gb, side, evaluations = start.real, end.real, 0, 2

        while evaluations < _MAX_LOCATE_EVALUATIONS:
            if self.locator._resolved(a, b):
                break
            c = _trial_point(a, b, ga, gb, evaluations)
            guess = start + (end - start) * (c - a) / (b - a)
            value = self.follow(c, guess)
            evaluations += 1

            if not np.isfinite(value):
                return None
            if (value.real > 0) == (ga > 0):
                a, ga, start = c, value.real, value
                gb = gb * 0.5 if side == 1 else gb
                side = 1
            else:
                b, gb, end = c, value.real, value
                ga = ga * 0.5 if side == -1 else ga
                side = -1

        return self._confirmed(a, b, evaluations)

    def _crossing_pair(self, a, b):
        """``(u, v)``: an eigenvalue at `a` and its nearest at `b`, across the axis.

        Of the complex eigenvalues (Im > 0) at `a` whose nearest one at `b`
        lies on the other side of the axis, the closest such couple.
        """
        left, right = self._upper(a), self._upper(b)
        if left.size == 0 or right.size == 0:
            return None
        distance = np.abs(left[:, None] - right[None, :])
        nearest = np.argmin(distance, axis=1)

        moved = distance[np.arange(left.size), nearest]
        across = left.real * right[nearest].real < 0
        if not across.any():
            return None
        i = int(np.argmin(np.where(across, moved, np.inf)))

        return complex(left[i]), complex(right[nearest[i]])

    def collision(self):
        """Whether the step's change of count is a collision, not a crossing.

        No eigenvalue crossed the axis (as many unstable at both ends) while
        the complex ones among them changed: a complex pair met the real
        axis right of the imaginary axis and split into two real
        eigenvalues, or the reverse.  A Hopf point exactly compensated by
        two real crossings in the same step would pass for one.
        """
        a, b = 0.0, self.locator.length
        unstable = [int(np.count_nonzero(self.spectrum(s).real > 0)) for s in (a, b)]

        return unstable[0] == unstable[1] and self.count(a) != self.count(b)

    def _upper(self, sigma):
        values = self.spectrum(sigma)
        return values[_is_complex(values) & (values.imag > 0)]

    def follow(self, sigma, guess):
        """The eigenvalue at `sigma` nearest `guess` (complex NaN if none)."""
        values = self.locator.point(sigma).eigenvalues_near(guess)
        values = values[_is_complex(values)]
        if values.size == 0:
            return complex(math.nan, math.nan)
        values = np.where(values.imag < 0, values.conj(), values)

        return complex(values[np.argmin(np.abs(values - guess))])

    def _confirmed(self, a, b, evaluations):
        """The bracket if all eigenvalues at its ends confirm a crossing.

        The counts at the ends of the step differ (checked first); inside,
        the bracket may be resolved below rounding, where the counts at its
        ends may agree while the eigenvalue sits on the axis.
        """
        self.make_exact(a)
        self.make_exact(b)
        if self.crossing(a, b):
            return a, b, evaluations
        logger.debug("followed eigenvalue does not confirm a Hopf point")

        return None

    def count(self, sigma):
        """Complex eigenvalues with positive real part at `sigma`."""
        values = self.spectrum(sigma)
        return int(np.count_nonzero((values.real > 0) & _is_complex(values)))

    def nearest(self, sigma):
        """The complex eigenvalue (Im > 0) nearest the imaginary axis, or NaN."""
        values = self.spectrum(sigma)
        upper = values[_is_complex(values) & (values.imag > 0)]
        if upper.size == 0:
            return complex(math.nan, math.nan)

        return complex(upper[np.argmin(np.abs(upper.real))])

    def bracket(self):
        """Shrink the step to ``(a, b, evaluations)``, or None if no change."""
        a, b = 0.0, self.locator.length
        self.make_exact(a)
        self.make_exact(b)
        if self.count(a) == self.count(b):
            return None
        ga, gb = self.nearest(a).real, self.nearest(b).real
        side, evaluations = 0, 2

        while evaluations < _MAX_LOCATE_EVALUATIONS:
            if self.locator._resolved(a, b):
                break
            c = _trial_point(a, b, ga, gb, evaluations)
            gc = self.nearest(c).real
            evaluations += 1

            if self.count(c) == self.count(a):
                a, ga = c, gc
                gb = gb * 0.5 if side == 1 else gb
                side = 1
            else:
                b, gb = c, gc
                ga = ga * 0.5 if side == -1 else ga
                side = -1

        return a, b, evaluations

    def crossing(self, a, b):
        """Whether one complex eigenvalue moves continuously across the axis.

        A change of count made instead by a complex pair turning real (off
        the axis) or by two eigenvalues trading places fails this.  A bracket
        resolved below the rounding errors of the eigenvalues may leave both
        real parts on one side; within `_AXIS_ULPS` of the spectrum's size
        they count as on the axis.
        """
        left, right = self.nearest(a), self.nearest(b)
        jump = abs(left - right)
        scale = max(1.0, abs(left))

        size = max(np.max(np.abs(self.spectrum(s)), initial=1.0) for s in (a, b))
        on_axis = min(abs(left.real), abs(right.real)) <= _AXIS_ULPS * _EPS * size
        crosses = left.real * right.real <= 0 or on_axis

        return bool(crosses and jump <= _PAIR_JUMP_RTOL * scale)


def _trial_point(a, b, ga, gb, evaluations):
    """Regula falsi point of a bracket, or its midpoint when that is unsafe."""
    if ga * gb < 0 and evaluations % 6 != 5:
        c = (a * gb - b * ga) / (gb - ga)
        if min(a, b) < c < max(a, b):
            return c

    return 0.5 * (a + b)


_TESTS = {"LP": FoldTest, "BP": BranchPointTest, "H": HopfTest}


def make_tests(labels, symmetric):
    """Test functions for the requested labels.

    Parameters
    ----------
    labels : iterable of str
        Subset of ``("LP", "BP", "H")``.
    symmetric : bool
        Whether f_x has real eigenvalues only (no Hopf points then).

    Returns
    -------
    list of TestFunction
    """
    tests = []
    for label in labels:
        if label == "H" and symmetric:
            continue
        tests.append(_TESTS[label]())

    return tests


def resolve(points, step_length):
    """Drop points that a coincident point of another kind replaces.

    Parameters
    ----------
    points : list of SpecialPoint
        The points located within one step.
    step_length : float

    Returns
    -------
    list of SpecialPoint
        Sorted by arclength.
    """
    kept = []
    for point in points:
        suppressors = _TESTS[point.label].suppressed_by
        replaced = any(
            other.label in suppressors
            and abs(other.data["arclength"] - point.data["arclength"])
            <= _COINCIDE_RTOL * abs(step_length) + _SIGMA_TOL
            for other in points
        )
        if not replaced:
            kept.append(point)

    return sorted(kept, key=lambda sp: sp.data["arclength"])
