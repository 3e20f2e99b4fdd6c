"""The two-dimensional Bratu problem, discretised on a square grid.

The boundary-value problem Δu + λ e^u = 0 on the unit square with u = 0 on
its boundary, discretised by the 5-point finite-difference stencil on an
``n_grid`` by ``n_grid`` grid of interior points, becomes the vector field

    u' = L u + lam * exp(u),

with L the (negative definite, symmetric) discrete Laplacian.  Its rest points
are the discrete solutions; the branch that starts at u = 0 for lam = 0 folds
near lam = 6.81 (Bratu 1914; the continuous fold is at about 6.808124423).
The Jacobian L + lam diag(exp(u)) is sparse and symmetric, so the system is
the gradient flow of a discrete energy and stability is decided by inertia.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._errors import InputError
from .._system import System

__all__ = ["bratu2d"]

# The 5-point stencil needs at least one interior point per side.
_MIN_GRID = 1

# The parameter's name: "lambda" is a Python keyword.
_PARAM = "lam"


def _laplacian(n_grid):
    """The 5-point discrete Laplacian with zero Dirichlet data.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_grid**2, n_grid**2)
        Unknown ``(i, j)`` (row i, column j of the interior grid, both
        zero-based) has index ``i * n_grid + j``; the mesh width is
        ``h = 1 / (n_grid + 1)``.
    """
    h = 1.0 / (n_grid + 1)
    ones = np.ones(n_grid)
    second = sp.diags([ones[1:], -2 * ones, ones[1:]], [-1, 0, 1])
    eye = sp.identity(n_grid)
    laplacian = (sp.kron(eye, second) + sp.kron(second, eye)) / h**2

    # Conversions from the diagonal format can leave stored zeros behind.
    laplacian = sp.csr_matrix(laplacian)
    laplacian.sum_duplicates()
    laplacian.eliminate_zeros()
    laplacian.sort_indices()
    return laplacian


def _diagonal_positions(matrix):
    """Positions in ``matrix.data`` of the diagonal entries of a CSR matrix."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    positions = np.flatnonzero(matrix.indices == rows)
    if positions.size != matrix.shape[0]:
        raise InputError("the discrete Laplacian is missing diagonal entries")
    return positions


class _Bratu2D:
    """The vector field, its derivatives and energy for one grid size.

    The Jacobian is assembled from a copy of the Laplacian's CSR arrays with
    ``lam * exp(u)`` added on the diagonal: no sparse addition and no
    re-sorting per call.
    """

    def __init__(self, n_grid):
        self.laplacian = _laplacian(n_grid)
        self.diagonal = _diagonal_positions(self.laplacian)

    def rhs(self, x, p):
        return self.laplacian @ x + p[0] * np.exp(x)

    def jacobian(self, x, p):
        lap = self.laplacian
        data = lap.data.copy()
        data[self.diagonal] += p[0] * np.exp(x)

        # Fresh index arrays: a caller may sort or prune the matrix in place.
        arrays = (data, lap.indices.copy(), lap.indptr.copy())
        return sp.csr_matrix(arrays, shape=lap.shape)

    def param_jacobian(self, x, p):
        return np.exp(x)[:, None]

    def second_derivative(self, x, p, k, u, v):
        if k != 0:
            raise InputError(f"k must be 0 (the only parameter {_PARAM!r}), got {k}")
        ux, vx = u[:-1], v[:-1]
        mixed = ux * v[-1] + vx * u[-1]
        return np.exp(x) * (p[0] * ux * vx + mixed)

    def energy(self, x, p):
        return 0.5 * float(x @ (-(self.laplacian @ x))) - p[0] * float(np.exp(x).sum())


def bratu2d(n_grid=20, *, lam=0.0):
    """The 2-D Bratu problem on an ``n_grid`` by ``n_grid`` interior grid.

    Parameters
    ----------
    n_grid : int
        Interior grid points per side (at least 1); the system has
        ``n_grid**2`` unknowns and mesh width ``h = 1 / (n_grid + 1)``.
    lam : float
        Default value of the parameter ``lam`` (λ in Δu + λ e^u = 0).

    Returns
    -------
    System
        Variables ``u_i_j`` (row i, column j, zero-based; index
        ``i * n_grid + j``), parameter ``lam``.  The Jacobian is a
        ``scipy.sparse.csr_matrix`` (``sparse=True``); f_p and the second
        derivatives are analytic; ``gradient=True`` with the energy
        ``E(u) = u.(-L u) / 2 - lam * sum(exp(u))``, so that
        ``f = -grad E``.

    Notes
    -----
    The fold of the discrete problem lies below the continuous one,
    λ* ≈ 6.808124423, and approaches it as O(h^2).  With the unknowns on a
    square grid, the Jacobian has the symmetries of the square; the branch
    from u = 0 is the symmetric one and meets no branch point before its
    fold.

    Examples
    --------
    >>> system = bratu2d(30)
    >>> system.n
    900
    """
    if isinstance(n_grid, bool) or not isinstance(n_grid, int | np.integer):
        raise InputError(f"n_grid must be an integer, got {n_grid!r}")
    if n_grid < _MIN_GRID:
        raise InputError(f"n_grid must be at least {_MIN_GRID}, got {n_grid}")
    if not np.isfinite(lam):
        raise InputError(f"lam must be finite, got {lam!r}")

    n_grid = int(n_grid)
    field = _Bratu2D(n_grid)
    names = tuple(f"u_{i}_{j}" for i in range(n_grid) for j in range(n_grid))
    return System(
        variables=names,
        parameters=(_PARAM,),
        defaults=np.array([float(lam)]),
        rhs=field.rhs,
        jacobian=field.jacobian,
        param_jacobian=field.param_jacobian,
        second_derivative=field.second_derivative,
        energy=field.energy,
        gradient=True,
        sparse=True,
        name=f"bratu2d_{n_grid}",
        description=(
            f"2-D Bratu problem Δu + lam e^u = 0 on the unit square, u = 0 on "
            f"the boundary, 5-point stencil on {n_grid}x{n_grid} interior points"
        ),
    )
