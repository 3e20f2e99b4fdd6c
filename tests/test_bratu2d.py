"""The discretised 2-D Bratu problem: derivatives, energy, and its fold."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.testing import assert_allclose

import bifurc
from bifurc.models.bratu2d import bratu2d

# The fold of the continuous problem Δu + λ e^u = 0 on the unit square.
CONTINUOUS_FOLD = 6.808124423


def dense_laplacian(n_grid):
    """The 5-point Laplacian built entry by entry (independent of the model)."""
    h = 1.0 / (n_grid + 1)
    n = n_grid * n_grid
    lap = np.zeros((n, n))
    for i in range(n_grid):
        for j in range(n_grid):
            row = i * n_grid + j
            lap[row, row] = -4.0
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                if 0 <= i + di < n_grid and 0 <= j + dj < n_grid:
                    lap[row, (i + di) * n_grid + j + dj] = 1.0
    return lap / h**2


def grid_sine(n_grid):
    """sin(pi x) sin(pi y) on the interior grid, flattened row by row."""
    s = np.sin(np.pi * np.arange(1, n_grid + 1) / (n_grid + 1))
    return np.outer(s, s).ravel()


def moore_spence_fold(n_grid, tol=1e-13):
    """The discrete fold from Newton on the extended system (Moore & Spence 1980).

    Unknowns (u, φ, λ): L u + λ e^u = 0, (L + λ diag e^u) φ = 0, c.φ = 1, with
    a sine-profile start (no continuation involved), solved with sparse
    direct solves of the (2n + 1) x (2n + 1) extended Jacobian.
    """
    lap = sp.csr_matrix(dense_laplacian(n_grid))
    n = lap.shape[0]
    profile = grid_sine(n_grid)
    u, lam = 1.2 * profile, 6.8
    phi = c = profile / np.linalg.norm(profile)

    for _ in range(20):
        e = np.exp(u)
        jac = lap + sp.diags(lam * e)
        residual = np.concatenate([lap @ u + lam * e, jac @ phi, [c @ phi - 1]])
        big = sp.bmat(
            [
                [jac, None, e[:, None]],
                [sp.diags(lam * e * phi), jac, (e * phi)[:, None]],
                [None, c[None, :], None],
            ],
            format="csc",
        )

        step = spla.spsolve(big, -residual)
        u, phi, lam = u + step[:n], phi + step[n : 2 * n], lam + step[-1]
        if np.linalg.norm(step) < tol * max(1.0, np.linalg.norm(u)):
            return lam, u
    raise AssertionError("the extended system did not converge")


@pytest.fixture(scope="module")
def small():
    return bratu2d(5)


def test_laplacian_matches_stencil_built_entry_by_entry(small):
    jac = small.fx(np.zeros(small.n), np.array([0.0]))
    assert sp.isspmatrix_csr(jac)
    assert_allclose(jac.toarray(), dense_laplacian(5), rtol=0, atol=1e-12)
    assert jac.nnz == 5 * 25 - 4 * 5


def test_laplacian_eigenvalue_on_the_grid_sine():
    # The 5-point stencil maps sin(pi x) sin(pi y) to -(8 / h^2) sin^2(pi h / 2)
    # times itself, exactly.
    n_grid = 30
    h = 1.0 / (n_grid + 1)
    system = bratu2d(n_grid)
    u = grid_sine(n_grid)
    expected = -8.0 / h**2 * np.sin(np.pi * h / 2) ** 2 * u
    assert_allclose(system.f(u, np.array([0.0])), expected, rtol=1e-12, atol=1e-10)


def test_jacobian_matches_finite_differences(small):
    rng = np.random.default_rng(3)
    x, p = 0.5 * rng.standard_normal(small.n), np.array([3.7])
    exact = small.fx(x, p).toarray()
    approx = small.fd_jacobian(x, p)
    assert_allclose(exact, approx, rtol=0, atol=1e-7 * np.abs(exact).max())
    assert_allclose(exact, exact.T, rtol=0, atol=0)


def test_param_jacobian_matches_finite_differences(small):
    rng = np.random.default_rng(4)
    # f is linear in lam: a wide central difference is exact up to rounding.
    x, p, h = rng.standard_normal(small.n), np.array([2.0]), 1e-3
    central = (small.f(x, p + h) - small.f(x, p - h)) / (2 * h)
    assert small.param_jacobian(x, p).shape == (small.n, 1)
    assert_allclose(small.fp(x, p, 0), central, rtol=1e-9)


def test_second_derivative_matches_differences_of_the_jacobian(small):
    rng = np.random.default_rng(5)
    x, p = 0.3 * rng.standard_normal(small.n), np.array([1.5])
    u, v = rng.standard_normal(small.n + 1), rng.standard_normal(small.n + 1)

    def directional(t):
        y, q = x + t * v[:-1], p + t * v[-1]
        return small.fx(y, q) @ u[:-1] + small.fp(y, q, 0) * u[-1]

    h = 1e-5
    central = (directional(h) - directional(-h)) / (2 * h)
    exact = small.fxx(x, p, 0, u, v)
    assert_allclose(exact, central, rtol=1e-7, atol=1e-7 * np.abs(exact).max())


def test_energy_is_a_potential_of_minus_f(small):
    rng = np.random.default_rng(6)
    x, p, h = 0.4 * rng.standard_normal(small.n), np.array([2.5]), 1e-6
    grad = np.array(
        [
            (small.energy(x + h * e, p) - small.energy(x - h * e, p)) / (2 * h)
            for e in np.eye(small.n)
        ]
    )
    assert small.gradient and small.sparse
    assert_allclose(-grad, small.f(x, p), rtol=1e-7, atol=1e-6)


def test_discrete_folds_extrapolate_to_the_continuous_fold():
    # h = 1/20 and 1/40: the 5-point fold converges as O(h^2), so one
    # Richardson step leaves an O(h^4) error of a few 1e-6.
    coarse, fine = moore_spence_fold(19)[0], moore_spence_fold(39)[0]
    assert coarse < fine < CONTINUOUS_FOLD
    assert abs((4 * fine - coarse) / 3 - CONTINUOUS_FOLD) < 2e-5


def test_located_fold_matches_the_extended_system_on_a_20x20_grid():
    reference, u_fold = moore_spence_fold(20)
    system = bratu2d(20)
    branch = bifurc.continuation(system, np.zeros(system.n), "lam", (4.0, 7.0), p0=4.0)

    folds = [q for q in branch.special_points if q.label == "LP"]
    assert len(folds) == 1
    assert folds[0].value == pytest.approx(reference, rel=1e-8)
    assert_allclose(folds[0].x, u_fold, rtol=0, atol=1e-4 * np.abs(u_fold).max())
    assert tuple(folds[0].n_unstable) == (0, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_grid": 0}, "n_grid must be at least 1, got 0"),
        ({"n_grid": 2.5}, "n_grid must be an integer, got 2.5"),
        ({"n_grid": True}, "n_grid must be an integer, got True"),
        ({"n_grid": 4, "lam": np.nan}, "lam must be finite"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(bifurc.InputError, match=match):
        bratu2d(**kwargs)


def test_second_derivative_rejects_an_unknown_parameter_index(small):
    u = np.zeros(small.n + 1)
    with pytest.raises(bifurc.InputError, match="k must be 0"):
        small.second_derivative(np.zeros(small.n), np.array([1.0]), 1, u, u)


def test_registry_builds_the_sparse_model():
    from bifurc.models import get

    entry = get("bratu2d")
    system = entry.build(n_grid=6)
    assert system.n == 36 and system.sparse and system.gradient
    assert entry.param == "lam" and system.parameters == ("lam",)
