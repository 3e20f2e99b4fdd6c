"""Bordered matrices, determinant signs, inertia and null vectors."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from bifurc._linalg import (
    SparseOrdering,
    bordered,
    factorize,
    factorize_bordered,
    inertia,
    null_vector,
    permutation_parity,
    rightmost_eigenvalues,
    singularity,
)


def random_matrix(n, seed):
    return np.random.default_rng(seed).standard_normal((n, n))


@pytest.mark.parametrize("n", [1, 2, 7, 60])
@pytest.mark.parametrize("seed", range(4))
def test_determinant_sign_dense_and_sparse(n, seed):
    matrix = random_matrix(n, seed)
    sign, logdet = np.linalg.slogdet(matrix)
    dense = factorize(np.array(matrix, order="F"))
    sparse = factorize(sp.csc_matrix(matrix))
    assert dense.det_sign == sparse.det_sign == sign
    assert dense.log_abs_det == pytest.approx(logdet, rel=1e-10, abs=1e-10)

    assert sparse.log_abs_det == pytest.approx(logdet, rel=1e-10, abs=1e-10)


def test_determinant_sign_without_overflow():
    # det = -(10^3)^400 overflows; its sign does not.
    matrix = np.diag(np.full(400, 1e3))
    matrix[[0, 1]] = matrix[[1, 0]]
    with np.errstate(over="ignore"):
        assert np.isinf(np.linalg.det(matrix))
    assert factorize(np.array(matrix, order="F")).det_sign == -1
    assert factorize(sp.csc_matrix(matrix)).det_sign == -1


def test_singular_factorisation():
    matrix = np.array([[1.0, 2.0], [2.0, 4.0]])
    lu = factorize(np.array(matrix, order="F"))
    assert lu.det_sign == 0 and lu.singular
    assert lu.scaled_det(0.0) == 0.0
    assert np.all(np.isnan(lu.solve(np.ones(2))))


def test_solve_and_transpose_solve():
    matrix = random_matrix(5, 1)
    rhs = np.arange(5.0)
    for lu in (
        factorize(np.array(matrix, order="F")),
        factorize(sp.csc_matrix(matrix)),
    ):
        assert np.allclose(matrix @ lu.solve(rhs), rhs)
        assert np.allclose(matrix.T @ lu.solve(rhs, transpose=True), rhs)


def test_scaled_determinant_is_continuous_and_overflow_free():
    base = np.diag(np.full(300, 10.0))
    reference = factorize(np.array(base, order="F")).log_abs_det
    for t in (-1.0, 0.5, 2.0):
        matrix = base.copy()
        matrix[0, 0] = 10.0 * t
        value = factorize(np.array(matrix, order="F")).scaled_det(reference)
        assert value == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize("n", range(1, 6))
def test_permutation_parity_against_counting_inversions(n):
    for perm in itertools.permutations(range(n)):
        inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        assert permutation_parity(np.array(perm)) == inversions % 2


def test_bordered_dense_and_sparse_agree():
    jac = random_matrix(4, 2)
    column, row = np.arange(4.0), np.arange(5.0) + 10
    dense = bordered(jac, column, row)
    sparse = bordered(sp.csr_matrix(jac), column, row).toarray()
    assert dense.flags.f_contiguous
    assert np.array_equal(dense, sparse)

    assert np.array_equal(dense[:4, :4], jac)
    assert np.array_equal(dense[:4, 4], column) and np.array_equal(dense[4], row)


def _symmetric_cases():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 40))
    yield a + a.T  # indefinite: Bunch-Kaufman uses 2x2 blocks
    yield -(a @ a.T) - np.eye(40)  # negative definite
    yield np.array([[0.0, 1.0], [1.0, 0.0]])  # one 2x2 block, one of each sign
    yield np.diag([2.0, 0.0, -1.0])  # singular

    q, _ = np.linalg.qr(a)
    yield q @ np.diag(np.linspace(-3, 5, 40)) @ q.T


@pytest.mark.parametrize("matrix", list(_symmetric_cases()), ids=range(5))
def test_inertia_against_eigenvalues(matrix):
    values = np.linalg.eigvalsh(matrix)
    tol = 1e-10 * max(1.0, np.max(np.abs(values)))
    expected = (int(np.sum(values > tol)), int(np.sum(values < -tol)))
    assert inertia(matrix)[:2] == expected
    assert inertia(sp.csc_matrix(matrix))[:2] == expected


def test_sparse_inertia_of_a_large_discrete_laplacian():
    n = 3000
    lap = sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1])
    # Eigenvalues -4 sin^2(k pi / (2 (n + 1))) + shift: count those above 0.
    shift = 1e-3
    values = -4 * np.sin(np.arange(1, n + 1) * np.pi / (2 * (n + 1))) ** 2 + shift
    positive, negative, _ = inertia(sp.csc_matrix(lap + shift * sp.eye(n)))
    assert positive == int(np.sum(values > 0)) and negative == n - positive


def test_null_vector_and_singularity():
    rng = np.random.default_rng(9)
    u, _, vt = np.linalg.svd(rng.standard_normal((6, 6)))
    matrix = u @ np.diag([5, 4, 3, 2, 1, 1e-13]) @ vt
    vector = null_vector(factorize(np.array(matrix, order="F")))
    assert abs(abs(vector @ vt[-1]) - 1) < 1e-8
    left = null_vector(factorize(np.array(matrix, order="F")), transpose=True)

    assert abs(abs(left @ u[:, -1]) - 1) < 1e-8
    assert singularity(matrix) < 1e-12
    assert singularity(np.eye(6)) == pytest.approx(1.0)
    assert singularity(sp.csc_matrix(matrix)) < 1e-12


def test_rightmost_eigenvalues():
    rng = np.random.default_rng(4)
    matrix = rng.standard_normal((80, 80)) / 9 - np.eye(80)
    exact = np.linalg.eigvals(matrix)
    exact = exact[np.argsort(-exact.real)]
    values = rightmost_eigenvalues(matrix, 6)

    assert np.allclose(
        np.sort_complex(values[:4]), np.sort_complex(exact[:4]), atol=1e-8
    )
    assert np.all(np.diff(values.real) <= 1e-12)


def grid_laplacian(side):
    """5-point Laplacian on a side x side grid (symmetric, negative definite)."""
    second = sp.diags(
        [np.ones(side - 1), -2 * np.ones(side), np.ones(side - 1)], [-1, 0, 1]
    )
    eye = sp.identity(side)
    return sp.csr_matrix(sp.kron(eye, second) + sp.kron(second, eye))


@pytest.mark.parametrize("shift", [0.0, 3.7, 7.9])
def test_ordered_sparse_bordered_factorisation_matches_the_dense_one(shift):
    # The fill-reducing order is a symmetric permutation: solves, transposed
    # solves, determinant sign and magnitude are those of the matrix itself.
    rng = np.random.default_rng(11)
    jac = grid_laplacian(12) + shift * sp.identity(144, format="csr")
    column, row = rng.standard_normal(144), rng.standard_normal(145)
    ordering = SparseOrdering()
    lu = factorize_bordered(jac, column, row, ordering)
    matrix = bordered(jac.toarray(), column, row)

    rhs = rng.standard_normal(145)
    assert np.allclose(matrix @ lu.solve(rhs), rhs, atol=1e-11)
    assert np.allclose(matrix.T @ lu.solve(rhs, transpose=True), rhs, atol=1e-11)
    sign, logdet = np.linalg.slogdet(matrix)

    assert lu.det_sign == sign
    assert lu.log_abs_det == pytest.approx(logdet, rel=1e-12)


def test_sparse_ordering_follows_a_new_pattern():
    rng = np.random.default_rng(12)
    ordering = SparseOrdering()
    for side in (6, 9):
        jac = grid_laplacian(side) + sp.diags(rng.standard_normal(side * side))
        lu = factorize(sp.csr_matrix(jac), ordering)
        rhs = rng.standard_normal(side * side)

        assert ordering.holds(jac)
        assert np.allclose(jac @ lu.solve(rhs), rhs, atol=1e-11)


@pytest.mark.parametrize("shift", [0.5, 30.0, 90.0])
def test_inertia_in_a_kept_order_against_eigenvalues(shift):
    # Eigenvalues of the grid Laplacian with h = 1: -4 sin^2(...) summed
    # over both directions, plus the shift.
    side = 10
    jac = grid_laplacian(side) * (side + 1) ** 2 + shift * sp.identity(side**2)
    ordering = SparseOrdering()
    factorize_bordered(jac, np.ones(side**2), np.ones(side**2 + 1), ordering)
    k = np.arange(1, side + 1)
    one_d = -4 * (side + 1) ** 2 * np.sin(k * np.pi / (2 * (side + 1))) ** 2

    values = (one_d[:, None] + one_d[None, :]).ravel() + shift
    expected = (int(np.sum(values > 0)), int(np.sum(values < 0)))
    assert ordering.holds(jac)
    assert inertia(sp.csr_matrix(jac), ordering)[:2] == expected


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_released_factorisation_keeps_its_determinant_and_refuses_solves(sparse):
    matrix = random_matrix(40, 12)
    sign, log_abs = np.linalg.slogdet(matrix)
    lu = factorize(sp.csc_matrix(matrix) if sparse else np.array(matrix, order="F"))

    lu.release()

    assert lu.det_sign == int(sign)
    assert lu.log_abs_det == pytest.approx(log_abs, rel=1e-12)
    with pytest.raises(RuntimeError, match="released"):
        lu.solve(np.ones(40))
