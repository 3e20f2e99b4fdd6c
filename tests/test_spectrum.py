"""Stability of large non-symmetric systems from the eigenvalues near the axis.

References are independent of the tracking: dense eigenvalues (LAPACK) of the
same matrices, and the closed form of the Hopf points of a network at its
origin, ``beta = leak / (g'(0) Re lambda)`` for each complex eigenvalue
lambda of W.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import bifurc
import bifurc.models
from bifurc._linalg import factorize_bordered
from bifurc._spectrum import (
    SpectrumTracker,
    _best_disc,
    _departure,
    _near_zero,
    _norm_bound,
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
    radius, count, budget = _best_disc(values, 0.0, 10_000)
    assume(budget > 0)
    inside = np.abs(values) <= radius - budget + 1e-12 * radius
    assert budget > 0 and count >= 1
    assert np.all(values.real[~inside] < -budget)


def test_departure_from_normality_is_the_triangular_part_of_a_schur_form():
    rng = np.random.default_rng(13)
    n = 60
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    diagonal = np.diag(rng.standard_normal(n))
    # Mildly non-normal, so that LAPACK's eigenvalues are accurate.
    strict = 0.05 * np.triu(rng.standard_normal((n, n)), 1)

    normal = q @ diagonal @ q.T
    skewed = q @ (diagonal + strict) @ q.T
    rounding = _departure(normal, np.linalg.eigvals(normal))
    departure = _departure(skewed, np.linalg.eigvals(skewed))

    assert rounding <= 1e-6 * np.linalg.norm(normal)
    assert departure == pytest.approx(np.linalg.norm(strict), rel=1e-6)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_norm_bound_is_an_upper_bound_and_exact_for_diagonals(sparse):
    rng = np.random.default_rng(14)
    for _ in range(20):
        change = rng.standard_normal((50, 50)) * (rng.random((50, 50)) < 0.2)
        matrix = sp.csr_matrix(change) if sparse else change
        assert _norm_bound(matrix) >= np.linalg.norm(change, 2) * (1 - 1e-12)

    diagonal = np.diag(rng.standard_normal(50))
    matrix = sp.csr_matrix(diagonal) if sparse else diagonal
    assert _norm_bound(matrix) == pytest.approx(np.max(np.abs(diagonal)), rel=1e-14)


def test_no_disc_when_an_unstable_eigenvalue_lies_far_out():
    values = np.concatenate([[50.0], -1.0 + 0.1j * np.arange(-20, 21)])
    radius, count, budget = _best_disc(values, 0.0, values.size)

    assert (radius, count, budget) == (0.0, 0, 0.0)


def _path(rng, n):
    """f_x along t in [0, 1], normal: a pair -1.5 + 3 t +/- 0.7 i crosses.

    The pair's block and a diagonal of stable eigenvalues, in a random
    orthogonal basis (the matrix is dense and normal).
    """
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    diagonal = -0.1 - 0.04 * np.arange(n)

    def jacobian(t):
        blocks = np.diag(diagonal)
        blocks[:2, :2] = [[-1.5 + 3.0 * t, -0.7], [0.7, -1.5 + 3.0 * t]]
        return q @ blocks @ q.T

    return jacobian


def test_tracked_counts_match_dense_eigenvalues_along_a_path():
    rng = np.random.default_rng(11)
    n = 120
    jac_at = _path(rng, n)
    tracker, reference = SpectrumTracker(n, 8), None

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
    assert tracker.counts["tracked"] > 10, tracker.counts


def _normal_weights(rng, n, rotate=True):
    """A normal W = Q B Q^T: rotation blocks and reals, orthogonal Q.

    Without `rotate`, W = B: decoupled blocks, whose changes with the gain
    have a 2-norm the tracking's bound sees within a factor sqrt(2).
    """
    blocks = np.diag(rng.normal(0.3, 0.5, n))
    for i in range(0, n - 1, 4):
        a, b = rng.normal(0.3, 0.5), rng.uniform(0.05, 1.5)
        blocks[i : i + 2, i : i + 2] = [[a, -b], [b, a]]
    if not rotate:
        return blocks
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]

    return q @ blocks @ q.T


def _network_at_origin(weights):
    """An unbiased network and the gains where eigenvalues cross at 0.

    The Jacobian at the origin is ``-I + beta W``: an eigenvalue lambda of
    W crosses at ``beta = 1 / Re lambda``, a Hopf point when it is complex.
    """
    system = bifurc.models.hopfield(weights, beta=0.0)
    eigenvalues = np.linalg.eigvals(weights)
    upper = eigenvalues[(eigenvalues.real > 0) & (eigenvalues.imag >= 0)]
    crossings = np.sort(1.0 / upper.real)
    complex_pairs = upper[upper.imag > 1e-9]

    return system, eigenvalues, crossings, np.sort(1.0 / complex_pairs.real)


@pytest.mark.parametrize("normal", [True, False], ids=["normal", "random non-normal"])
def test_hopf_points_at_the_origin_have_the_closed_form(normal):
    rng = np.random.default_rng(1 + normal)
    n = 100
    weights = rng.standard_normal((n, n)) / np.sqrt(n)
    weights = _normal_weights(rng, n, rotate=False) if normal else weights
    system, eigenvalues, crossings, hopf = _network_at_origin(weights)

    # Stop between the 12th and 13th crossings (none on the bound).
    top = 0.5 * (crossings[11] + crossings[12])
    options = bifurc.ContinuationOptions(
        stability="arnoldi", ds_max=0.05, max_steps=400
    )
    branch = bifurc.continuation(
        system, np.zeros(n), "beta", (0.0, top), options=options
    )
    if normal:
        # Normal, with changes the bound sees well: the tracking is used.
        assert branch.info["tracked_spectra"] > 0, branch.info

    found = sorted(sp.value for sp in branch.special_points if sp.label == "H")
    expected = hopf[hopf < top]
    assert len(found) == len(expected) >= 4
    np.testing.assert_allclose(found, expected, rtol=1e-9)

    # The unstable count at every point: -1 + beta lambda right of the axis.
    exact = [int(np.count_nonzero(b * eigenvalues.real > 1.0)) for b in branch.p]
    assert list(branch.n_unstable) == exact


def test_tracking_agrees_with_all_eigenvalues_on_a_biased_network():
    rng = np.random.default_rng(6)
    n = 90
    weights = 1.6 * _normal_weights(rng, n)
    system = bifurc.models.hopfield(weights, 0.05 * rng.standard_normal(n))

    branches = {}
    for mode in ("arnoldi", "eigenvalues"):
        options = bifurc.ContinuationOptions(stability=mode, ds_max=0.05)
        branches[mode] = bifurc.continuation(
            system, np.zeros(n), "beta", (0.0, 3.0), p0=0.0, options=options
        )
    tracked, full = branches["arnoldi"], branches["eigenvalues"]

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


def _unstable_counts(jacobian, values):
    return [
        int(np.count_nonzero(np.linalg.eigvals(jacobian(v)).real > 0)) for v in values
    ]


def test_repeated_eigenvalues_are_not_tracked():
    # Five identical uncoupled modules: every eigenvalue of W is 5-fold, and
    # Arnoldi from one start vector would find one copy of each.
    rng = np.random.default_rng(2)
    module = rng.standard_normal((30, 30)) / np.sqrt(30)
    weights = np.kron(np.eye(5), module)
    system = bifurc.models.hopfield(weights, beta=0.9)
    options = bifurc.ContinuationOptions(
        stability="arnoldi", ds_max=0.05, direction="forward", max_steps=400
    )
    branch = bifurc.continuation(
        system, np.zeros(150), "beta", (0.9, 1.4), p0=0.9, options=options
    )

    assert branch.success, branch.message
    exact = _unstable_counts(lambda b: -np.eye(150) + b * weights, branch.p)
    assert list(branch.n_unstable) == exact
    eigenvalues = np.linalg.eigvals(module)
    hopf = [1 / v.real for v in eigenvalues if v.imag > 0 and 0.9 < 1 / v.real < 1.4]
    found = [sp.value for sp in branch.special_points if sp.label == "H"]
    np.testing.assert_allclose(found, sorted(hopf), rtol=1e-9)


def test_non_normal_crossing_outside_the_disc_is_found():
    # Two oscillator pairs, -2 +/- 2i and -4 +/- 2i, coupled feed-forward by c
    # (eigenvalue condition about 20) and fed back by p: the 4 x 4 block has
    # eigenvalues -3 +/- sqrt(1 + c p) +/- 2i, a Hopf point at p = 8 / c, far
    # from the many stable eigenvalues near 0.
    n, c = 160, 40.0
    rotation = np.array([[0.0, -2.0], [2.0, 0.0]])
    base = np.diag(-0.05 * np.arange(1, n + 1))
    base[:2, :2] = -2.0 * np.eye(2) + rotation
    base[2:4, 2:4] = -4.0 * np.eye(2) + rotation
    base[:2, 2:4] = c * np.eye(2)
    feedback = np.zeros((n, n))
    feedback[2:4, :2] = np.eye(2)

    def jacobian(p):
        return base + p * feedback

    system = bifurc.System.from_callable(
        lambda x, p: jacobian(p[0]) @ x,
        n,
        {"p": 0.0},
        jacobian=lambda x, p: jacobian(p[0]),
        param_jacobian=lambda x, p: (feedback @ x)[:, None],
    )
    options = bifurc.ContinuationOptions(
        stability="arnoldi", ds_max=0.05, direction="forward"
    )
    branch = bifurc.continuation(
        system, np.zeros(n), "p", (0.0, 1.0), p0=0.0, options=options
    )

    (hopf,) = [sp for sp in branch.special_points if sp.label == "H"]
    assert hopf.value == pytest.approx(8.0 / c, rel=1e-9)
    assert list(branch.n_unstable) == _unstable_counts(jacobian, branch.p)


def _linear_system(base, change):
    """x' = (base + p change) x: the origin for every p, f_x known."""
    n = base.shape[0]

    def jacobian(p):
        return base + p * change

    system = bifurc.System.from_callable(
        lambda x, p: jacobian(p[0]) @ x,
        n,
        {"p": 0.0},
        jacobian=lambda x, p: jacobian(p[0]),
        param_jacobian=lambda x, p: (change @ x)[:, None],
    )
    return system, jacobian


def _rotation_block(value):
    return np.array([[value.real, -value.imag], [value.imag, value.real]])


def test_ill_conditioned_pair_inside_the_disc_is_not_lost():
    # A pair near the axis coupled feed-forward (400) to a partner at -50:
    # condition numbers about 8.  With the feedback p e^{i theta} the pair
    # solves det [[l1 - z, c], [p e^{i theta}, l2 - z]] = 0 and crosses
    # where the larger root has real part 0 (brentq on the 2 x 2 problem).
    n, near, far, coupling = 120, -0.2 + 0.6j, -50.0 + 0.6j, 400.0
    turn = np.exp(1j * np.deg2rad(75.0))
    base = np.diag(np.concatenate([np.zeros(4), -100.0 - 0.01 * np.arange(n - 4)]))
    base[:2, :2], base[2:4, 2:4] = _rotation_block(near), _rotation_block(far)
    base[:2, 2:4] = coupling * np.eye(2)
    change = np.zeros((n, n))
    change[2:4, :2] = _rotation_block(turn)
    system, jacobian = _linear_system(base, change)

    def growth(p):
        block = np.array([[near, coupling], [p * turn, far]])
        return np.max(np.linalg.eigvals(block).real)

    options = bifurc.ContinuationOptions(
        stability="arnoldi", ds=0.005, ds_max=0.01, direction="forward"
    )
    branch = bifurc.continuation(
        system, np.zeros(n), "p", (0.0, 0.2), p0=0.0, options=options
    )

    (hopf,) = [sp for sp in branch.special_points if sp.label == "H"]
    reference = scipy.optimize.brentq(growth, 0.0, 0.2, xtol=1e-15)
    assert hopf.value == pytest.approx(reference, rel=1e-9)
    assert list(branch.n_unstable) == _unstable_counts(jacobian, branch.p)


def test_tracking_through_a_diagonal_change_finds_the_crossing():
    # A normal block-diagonal f_x whose change is diagonal (the bound of its
    # 2-norm is then exact): the pair -1 + p +/- 5i crosses at p = 1 while
    # the eigenvalues near 0 stay put.
    n = 200
    base = np.diag(np.concatenate([[-0.2, -0.3], -5.2 - 0.001 * np.arange(n - 2)]))
    change = np.diag(np.full(n, -0.4))
    base[10:12, 10:12] = _rotation_block(-1.0 + 5.0j)
    change[10, 10] = change[11, 11] = 1.0
    system, jacobian = _linear_system(base, change)

    options = bifurc.ContinuationOptions(
        stability="arnoldi", ds=0.05, ds_max=0.1, direction="forward"
    )
    branch = bifurc.continuation(
        system, np.zeros(n), "p", (0.0, 2.0), p0=0.0, options=options
    )

    assert branch.info["tracked_spectra"] > branch.info["reference_spectra"]
    (hopf,) = [sp for sp in branch.special_points if sp.label == "H"]
    assert hopf.value == pytest.approx(1.0, rel=1e-9)
    assert hopf.data["frequency"] == pytest.approx(5.0, rel=1e-9)
    assert list(branch.n_unstable) == _unstable_counts(jacobian, branch.p)
