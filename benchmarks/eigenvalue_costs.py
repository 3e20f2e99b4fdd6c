"""Cost of all eigenvalues against the few nearest 0, per continuation point.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/eigenvalue_costs.py

For the non-symmetric benchmark network at beta = 1.5 and n = 100, 200,
500, prints the CPU milliseconds of one LU factorisation of the bordered
matrix, of all eigenvalues of f_x (LAPACK), and of the eight eigenvalues
nearest 0 by shift-invert Arnoldi through that factorisation (what
``stability="arnoldi"`` does at a tracked point).  These figures set the
size above which non-symmetric systems are tracked by default.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import problems  # noqa: E402

import bifurc  # noqa: E402
from bifurc._linalg import factorize_bordered  # noqa: E402
from bifurc._spectrum import _near_zero  # noqa: E402

SIZES = (100, 200, 500)
BETA = 1.5
TRACKED = 8
REPEATS = 10


def cpu_ms(func):
    """Fastest CPU milliseconds of `func()` over `REPEATS` calls."""
    best = np.inf
    for _ in range(REPEATS):
        start = time.process_time()
        func()
        best = min(best, time.process_time() - start)
    return 1e3 * best


def costs(n):
    """``(lu, all eigenvalues, Arnoldi)`` in CPU ms at size n."""
    system = problems.hopfield_benchmark(n, symmetric=False)
    bias = problems.hopfield_weights(n, symmetric=False)[1]
    p = system.parameter_vector({"beta": BETA})
    x = bifurc.find_equilibrium(system, bias, p)[0]

    jac, column = system.fx(x, p), system.fp(x, p, 0)
    row = np.append(np.zeros(n), 1.0)
    lu = factorize_bordered(jac, column, row)
    tangent = lu.solve(np.append(np.zeros(n), 1.0))
    v0 = np.random.default_rng(0).standard_normal(n)

    return (
        cpu_ms(lambda: factorize_bordered(jac, column, row)),
        cpu_ms(lambda: scipy.linalg.eigvals(jac)),
        cpu_ms(lambda: _near_zero(lu, tangent, TRACKED, v0)),
    )


def main():
    print(f"{'n':>5} {'LU ms':>8} {'all eig ms':>11} {'Arnoldi ms':>11}")
    for n in SIZES:
        lu, full, arnoldi = costs(n)
        print(f"{n:5d} {lu:8.3f} {full:11.2f} {arnoldi:11.2f}")


if __name__ == "__main__":
    main()
