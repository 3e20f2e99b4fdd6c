"""Bifurcations of the built-in models located by continuation, against
closed forms and independent root solves."""

import numpy as np
import pytest
import scipy.optimize

import bifurc
from bifurc import models

# Located special points must match closed forms to this relative tolerance.
RTOL = 1e-8


def events(branch):
    """Special points of a branch other than its end points."""
    return [sp for sp in branch.special_points if sp.label != "EP"]


def triangle(radius=1.0):
    angles = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5])
def test_two_points_have_one_pitchfork_at_sigma_equal_a(a):
    system = models.diffusion([-a, a], value=1.5 * a)
    branch = bifurc.continuation(
        system, [0.0], "sigma", (0.3 * a, 2.0 * a), ds=0.02 * a, ds_max=0.05 * a
    )
    found = events(branch)

    assert [sp.label for sp in found] == ["BP"]
    assert found[0].kind == "pitchfork"
    assert found[0].value == pytest.approx(a, rel=RTOL)


def test_two_points_pitchfork_in_variance_preserving_time():
    a = 1.2
    system = models.diffusion([-a, a], parameterization="vp_time", value=1.0)
    branch = bifurc.continuation(system, [0.0], "vp_time", (0.05, 2.0))
    found = events(branch)

    assert [sp.label for sp in found] == ["BP"]
    assert found[0].value == pytest.approx(np.log(1 + a**2) / 2, rel=RTOL)


def test_two_points_pitchfork_in_inverse_variance():
    a = 0.8
    system = models.diffusion([-a, a], parameterization="beta", value=0.5)
    branch = bifurc.continuation(system, [0.0], "beta", (0.1, 5.0))
    found = events(branch)

    assert [sp.label for sp in found] == ["BP"]
    assert found[0].value == pytest.approx(1 / a**2, rel=RTOL)


def test_two_points_sinks_follow_the_data_below_the_pitchfork():
    a = 1.0
    system = models.diffusion([-a, a], value=0.5)
    branch = bifurc.continuation(system, [0.98], "sigma", (0.1, 0.9), ds=0.01)

    assert np.all(branch.n_unstable == 0)
    for sigma, x in zip(branch.p, branch.x[:, 0], strict=True):
        # Independent reference: the root of a tanh(a x / sigma^2) = x near a.
        root = scipy.optimize.brentq(
            lambda y, s=sigma: a * np.tanh(a * y / s**2) - y, a / 2, 2 * a, xtol=1e-15
        )
        assert x == pytest.approx(root, rel=1e-8)


def test_modern_hopfield_pitchfork_at_inverse_squared_norm():
    xi = np.array([0.6, -1.2, 0.9])
    system = models.modern_hopfield([xi, -xi], beta=0.1)
    branch = bifurc.continuation(system, np.zeros(3), "beta", (0.05, 2.0))
    found = events(branch)

    assert [sp.label for sp in found] == ["BP"]
    assert found[0].value == pytest.approx(1 / (xi @ xi), rel=RTOL)


def test_default_hopfield_pitchfork_at_one_over_lambda_max():
    system = models.hopfield()
    top = np.linalg.eigvalsh(models.default_weights())[-1]
    branch = bifurc.continuation(system, np.zeros(system.n), "beta", (0.1, 3.0))
    found = events(branch)

    assert [sp.label for sp in found][:1] == ["BP"]
    assert found[0].value == pytest.approx(1 / top, rel=RTOL)


def test_symmetric_hopfield_pitchfork_scales_with_the_leak():
    weights = np.array([[0.0, 0.7, -0.2], [0.7, 0.0, 0.4], [-0.2, 0.4, 0.0]])
    system = models.hopfield(weights, leak=0.5, activation="erf")
    branch = bifurc.continuation(system, np.zeros(3), "beta", (0.1, 2.0))
    found = events(branch)

    top = np.linalg.eigvalsh(weights)[-1]
    assert found[0].label == "BP"
    assert found[0].value == pytest.approx(0.5 / top, rel=RTOL)


def test_rotating_hopfield_has_a_hopf_point_at_beta_one():
    system = models.hopfield([[1.0, 1.0], [-1.0, 1.0]], beta=0.2)
    branch = bifurc.continuation(system, np.zeros(2), "beta", (0.2, 1.6))
    found = events(branch)

    assert [sp.label for sp in found] == ["H"]
    assert found[0].value == pytest.approx(1.0, rel=RTOL)
    report = bifurc.structural_stability(system, {"beta": found[0].value})
    assert report.condition("gradient-like").passed is False
    assert report.condition("no-periodic-orbit").passed is False


def test_perturbed_triangle_splits_into_generic_events():
    points = triangle()
    points[0] += 0.05 * np.array([0.6, 0.8])
    system = models.diffusion(points, value=0.62)
    found = events_on_all_branches(system, (0.55, 0.9))

    values = sorted(sp.value for sp in found)
    assert len(values) >= 2
    assert min(np.diff(values)) > 1e-3
    assert 0.6 < values[0] and values[-1] < 0.8
    for sp in found:
        assert sp.label == "LP"
        report = bifurc.structural_stability(system, [sp.value], rest_points=[sp.x])
        assert report.condition("hyperbolic").passed is False
        assert report.condition("generic").passed is True
        assert_fold_reference(system, sp)


def events_on_all_branches(system, p_range):
    """LP and BP of the branches through every rest point found at the defaults."""
    report = bifurc.structural_stability(system, simulate=False)
    found = []
    for x in report.rest_points:
        branch = bifurc.continuation(system, x, "sigma", p_range, ds=0.005)
        for sp in events(branch):
            if all(abs(sp.value - other.value) > 1e-6 for other in found):
                found.append(sp)
    return found


def assert_fold_reference(system, special_point):
    """Compare with a root of (f = 0, det f_x = 0) found by scipy from nearby."""

    def augmented(z):
        p = z[-1:]
        return np.append(system.f(z[:-1], p), np.linalg.det(system.fx(z[:-1], p)))

    start = np.append(np.round(special_point.x, 2), round(special_point.value, 2))
    solution = scipy.optimize.root(augmented, start, tol=1e-14)
    assert solution.success
    assert special_point.value == pytest.approx(solution.x[-1], rel=1e-7)


def test_bratu_fold_and_branch_point():
    # Start on the lower symmetric branch s = a e^s at a = 0.1; the upper
    # branch returns to a = 0.1 at s = 3.577 after the fold and the BP.
    low = scipy.optimize.brentq(lambda s: s - 0.1 * np.exp(s), 0.0, 1.0, xtol=1e-15)
    system = models.bratu(a=0.1)
    branch = bifurc.continuation(system, [low, low], "a", (0.1, 0.5))
    labels = {sp.label: sp.value for sp in events(branch)}

    assert labels["LP"] == pytest.approx(np.exp(-1), rel=RTOL)
    assert labels["BP"] == pytest.approx(3 * np.exp(-3), rel=RTOL)


@pytest.mark.parametrize(
    "name", [e.name for e in models.available() if e.name != "bratu2d"]
)
def test_registry_defaults_run(name):
    entry = models.get(name)
    system = entry.build()
    x0 = np.zeros(system.n) if entry.x0 is None else entry.x0
    branch = bifurc.continuation(system, x0, entry.param, tuple(sorted(entry.p_range)))

    assert branch.status.success, branch.message
    assert len(branch) > 3
