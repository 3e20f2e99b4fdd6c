"""Checks that every branch in the test suite must pass.

`check_branch` verifies the invariants of a `bifurc.Branch`: consistent
shapes, unit tangents, increasing arclength, rest points (small residual),
special points inside the step that brackets them and sorted by arclength,
located points converged to their tolerance, and unstable counts that agree
with eigenvalues recomputed here with numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Residual of an accepted point relative to the size of the state.
RESIDUAL_RTOL = 1e-8

# Eigenvalues this close to the imaginary axis (relative to the largest) may
# be counted either way.
EIG_RTOL = 1e-9

# Recompute eigenvalues at most at this many points per branch (evenly spread).
MAX_EIG_CHECKS = 60


def check_branch(branch, *, located_rtol=1e-9, residual_rtol=RESIDUAL_RTOL):
    """Assert the invariants of `branch` (see the module docstring)."""
    n = branch.system.n
    _check_shapes(branch, n)
    if len(branch) > 1:
        assert np.all(np.diff(branch.s) > 0), "arclength must increase"
    norms = np.linalg.norm(branch.tangent, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-10), f"tangents not unit: {norms}"

    _check_residuals(branch, residual_rtol)
    _check_special_points(branch, located_rtol)
    _check_counts(branch)


def _check_shapes(branch, n):
    count = len(branch)
    assert count >= 1
    assert branch.x.shape == (count, n)
    assert branch.p.shape == branch.s.shape == branch.n_unstable.shape == (count,)
    assert branch.tangent.shape == (count, n + 1)
    assert len(branch.eigenvalues) == count

    assert branch.p_range[0] <= branch.p.min() + 1e-12
    assert branch.p.max() <= branch.p_range[1] + 1e-12


def _check_residuals(branch, rtol):
    system = branch.system
    for i in range(len(branch)):
        value = system.f(branch.x[i], branch.params_at(i))
        scale = 1.0 + np.max(np.abs(branch.x[i]))
        assert np.max(np.abs(value)) <= rtol * scale, f"point {i} is not a rest point"


def _check_special_points(branch, rtol):
    points = branch.special_points
    assert points[0].label == "EP" and points[0].index == 0
    assert points[-1].label == "EP" and points[-1].index == len(branch) - 1
    arclengths = [sp.data["arclength"] for sp in points]
    assert arclengths == sorted(arclengths), "special points out of order"

    for point in points[1:-1]:
        i = point.index
        assert 0 <= i < len(branch) - 1, f"{point.label} index {i} out of range"
        s = point.data["arclength"]
        assert branch.s[i] - 1e-12 <= s <= branch.s[i + 1] + 1e-12, (
            f"{point.label} at s = {s} not between points {i} and {i + 1}"
        )
        turning = branch.tangent[i, -1] * branch.tangent[i + 1, -1] <= 0
        if not turning:
            low, high = sorted(branch.p[i : i + 2])
            slack = 1e-9 * (1 + abs(point.value))
            assert low - slack <= point.value <= high + slack
        if point.converged:
            assert point.precision <= rtol * max(1.0, abs(point.value))
            assert point.bracket[0] <= point.value <= point.bracket[1]
        assert np.isclose(np.linalg.norm(point.tangent), 1.0)


def _check_counts(branch):
    if np.all(branch.n_unstable < 0):
        return
    system = branch.system
    step = max(1, len(branch) // MAX_EIG_CHECKS)

    for i in range(0, len(branch), step):
        jac = system.fx(branch.x[i], branch.params_at(i))
        jac = jac.toarray() if sp.issparse(jac) else np.asarray(jac)
        values = np.linalg.eigvals(jac)
        tol = EIG_RTOL * max(1.0, np.max(np.abs(values)))
        low = int(np.sum(values.real > tol))
        high = int(np.sum(values.real > -tol))
        assert low <= branch.n_unstable[i] <= high, (
            f"point {i}: n_unstable {branch.n_unstable[i]}, eigenvalues {values}"
        )
