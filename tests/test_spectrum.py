"""Stability of large non-symmetric systems from the eigenvalues near the axis.

References are independent of the tracking: dense eigenvalues (LAPACK) of the
same matrices, and the closed form of the Hopf points of a network at its
origin, ``beta = leak / (g'(0) Re lambda)`` for each complex eigenvalue
lambda of W.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import bifurc
import bifurc.models
from bifurc._linalg import factorize_bordered
from bifurc._spectrum import (
    SpectrumTracker,
    _best_disc,
    _near_zero,
    eigenvalue_near,
)


def _bordered_problem(rng, n):
    """A random non-symmetric matrix, border and the bordered factorisation."""
    jac = rng.standard_normal((n, n)) / np.sqrt(n) - 0.3 * np.eye(n)
    column, row = rng.standard_normal(n), rng.standard_normal(n + 1)
    lu = factorize_bordered(jac, column, row)
    tangent = lu.solve(np.eye(n + 1)[-1])

    return jac, lu, tangent


def test_shift_invert_on_the_bordered_factorisation_finds_the_nearest():
    rng = np.random.default_rng(3)
    jac, lu, tangent = _bordered_problem(rng, 90)
    v0 = rng.standard_normal(90)

    found = _near_zero(lu, tangent, 8, v0)
    exact = scipy.linalg.eigvals(jac)
    nearest = np.sort(np.abs(exact))[:8]

    assert np.allclose(np.sort(np.abs(found)), nearest, rtol=1e-9, atol=0)
    for value in found:
        assert np.min(np.abs(exact - value)) <= 1e-9 * abs(value)


def test_shift_invert_refuses_a_singular_point():
    rng = np.random.default_rng(4)
    _, lu, tangent = _bordered_problem(rng, 20)
    tangent = tangent.copy()
    tangent[-1] = 0.0

    assert _near_zero(lu, tangent, 4, rng.standard_normal(20)) is None


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_inverse_iteration_finds_the_eigenvalue_nearest_a_complex_target(sparse):
    rng = np.random.default_rng(9)
    jac = rng.standard_normal((150, 150)) / np.sqrt(150)
    exact = scipy.linalg.eigvals(jac)
    upper = exact[exact.imag > 0.1]

    for wanted in upper[:5]:
        target = wanted + 1e-3 * (1 + 1j)
        matrix = sp.csr_matrix(jac) if sparse else jac
        found = eigenvalue_near(matrix, target)
        nearest = exact[np.argmin(np.abs(exact - target))]
        assert abs(found - nearest) <= 1e-11 * abs(nearest)


spectra = st.integers(0, 2**32 - 1).map(
    lambda seed: _random_spectrum(np.random.default_rng(seed))
)


def _random_spectrum(rng):
    """Real eigenvalues and conjugate pairs, some right of the axis."""
    reals = rng.normal(-1.0, rng.uniform(0.1, 2.0), rng.integers(0, 30))
    size = rng.integers(0, 30)
    pairs = rng.normal(-0.5, 1.0, size) + 1j * (0.01 + rng.exponential(1.0, size))
    values = np.concatenate([reals, pairs, pairs.conj()])

    return values if values.size >= 6 else np.concatenate([values, -np.ones(6)])


@given(spectra)
@settings(max_examples=200, deadline=None)
def test_tracked_disc_keeps_every_crossing_inside(values):
    """Eigenvalues moving by at most the budget reach the axis only inside."""
    radius, count, budget = _best_disc(values, -np.inf, 10_000)
    if budget == 0:
        return
    inside = np.abs(values) <= radius - budget + 1e-12 * radius
    assert budget > 0 and count >= 1
    assert np.all(values.real[~inside] < -budget)


def test_no_disc_when_an_unstable_eigenvalue_lies_far_out():
    values = np.concatenate([[50.0], -1.0 + 0.1j * np.arange(-20, 21)])
    radius, count, budget = _best_disc(values, -np.inf, values.size)

    assert (radius, count, budget) == (0.0, 0, 0.0)


def _path(rng, n):
    """f_x along t in [0, 1]: a fixed random part and a moving pair."""
    base = rng.standard_normal((n, n)) / np.sqrt(n) - 1.5 * np.eye(n)
    push = np.zeros((n, n))
    push[:2, :2] = [[1.0, 0.0], [0.0, 1.0]]
    rotate = np.zeros((n, n))
    rotate[:2, :2] = [[0.0, -0.7], [0.7, 0.0]]

    return lambda t: base + rotate + 3.0 * t * push


def test_tracked_counts_match_dense_eigenvalues_along_a_path():
    rng = np.random.default_rng(11)
    n = 120
    jac_at = _path(rng, n)
    tracker, reference, tracked = SpectrumTracker(n, 8), None, 0

    for t in np.linspace(0.0, 1.0, 81):
        jac = jac_at(t)
        lu = factorize_bordered(jac, rng.standard_normal(n), np.eye(n + 1)[-1] + 0.1)
        tangent = lu.solve(np.eye(n + 1)[-1])
        count, values, reference = tracker.evaluate(jac, lu, tangent, reference)

        exact = scipy.linalg.eigvals(jac)
        assert count == int(np.count_nonzero(exact.real > 0)), t
        # Each computed eigenvalue is one of f_x; each unstable one is computed.
        for value in values:
            assert np.min(np.abs(exact - value)) <= 1e-8 * abs(value), (t, value)
        for value in exact[exact.real > 0]:
            assert np.min(np.abs(values - value)) <= 1e-8 * abs(value), (t, value)
    tracked = tracker.counts["tracked"]

    assert tracked > 40, tracker.counts


def _network_at_origin(seed, n):
    """An unbiased network with its Hopf and branch points at the origin."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((n, n)) / np.sqrt(n)
    np.fill_diagonal(weights, 0.0)
    system = bifurc.models.hopfield(weights, beta=0.0)

    eigenvalues = np.linalg.eigvals(weights)
    right = eigenvalues[(eigenvalues.real > 0) & (eigenvalues.imag > 1e-9)]
    hopf = np.sort(1.0 / right.real)

    return system, eigenvalues, hopf


@pytest.mark.parametrize("seed", [1, 2])
def test_hopf_points_at_the_origin_have_the_closed_form(seed):
    system, eigenvalues, hopf = _network_at_origin(seed, 100)
    # Stop between the 12th and 13th crossings (none on the bound).
    upper = eigenvalues[(eigenvalues.real > 0) & (eigenvalues.imag >= 0)]
    crossings = np.sort(1.0 / upper.real)
    top = 0.5 * (crossings[11] + crossings[12])
    options = bifurc.ContinuationOptions(
        stability="arnoldi", ds_max=0.05, max_steps=400
    )
    branch = bifurc.continuation(
        system, np.zeros(100), "beta", (0.0, top), options=options
    )
    assert branch.info["tracked_spectra"] > 0, branch.info

    found = sorted(sp.value for sp in branch.special_points if sp.label == "H")
    expected = hopf[hopf < top]
    assert len(found) == len(expected) >= 4
    np.testing.assert_allclose(found, expected, rtol=1e-9)

    # The unstable count at every point: -1 + beta lambda right of the axis.
    exact = [int(np.count_nonzero(b * eigenvalues.real > 1.0)) for b in branch.p]
    assert list(branch.n_unstable) == exact


def test_tracking_agrees_with_all_eigenvalues_on_a_biased_network():
    rng = np.random.default_rng(5)
    n = 90
    weights = 1.6 * rng.standard_normal((n, n)) / np.sqrt(n)
    np.fill_diagonal(weights, 0.0)
    system = bifurc.models.hopfield(weights, 0.05 * rng.standard_normal(n))

    branches = {}
    for mode in ("arnoldi", "eigenvalues"):
        options = bifurc.ContinuationOptions(stability=mode, ds_max=0.05)
        branches[mode] = bifurc.continuation(
            system, np.zeros(n), "beta", (0.0, 2.0), p0=0.0, options=options
        )
    tracked, full = branches["arnoldi"], branches["eigenvalues"]

    assert tracked.info["tracked_spectra"] > 0
    np.testing.assert_array_equal(tracked.n_unstable, full.n_unstable)
    labels = [(sp.label, sp.value) for sp in tracked.special_points]
    reference = [(sp.label, sp.value) for sp in full.special_points]
    assert [label for label, _ in labels] == [label for label, _ in reference]
    assert sum(label == "H" for label, _ in labels) >= 2
    np.testing.assert_allclose(
        [v for _, v in labels], [v for _, v in reference], rtol=1e-10
    )


def test_large_non_symmetric_systems_track_by_default():
    rng = np.random.default_rng(8)
    weights = rng.standard_normal((200, 200)) / np.sqrt(200)
    system = bifurc.models.hopfield(weights, beta=0.0)
    branch = bifurc.continuation(
        system, np.zeros(200), "beta", (0.0, 0.5), max_steps=5, direction="forward"
    )

    assert branch.info["stability"] == "arnoldi"
    assert np.all(branch.n_unstable == 0)
