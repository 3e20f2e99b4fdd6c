"""The systems timed by the benchmarks, built from bifurc's own models.

The Hopfield benchmark problem is defined exactly once, here:

    rng = numpy.random.default_rng(20240501)
    A = rng.standard_normal((n, n))
    W = (A + A.T) / sqrt(2 n), diagonal set to zero
    b = 0.05 * rng.standard_normal(n)          (same generator, after A)
    x' = -x + W tanh(beta x) + b

and its non-symmetric variant uses ``W = A / sqrt(n)`` (diagonal zero) with
``b`` drawn the same way.  Both are `bifurc.models.hopfield` networks
(analytic Jacobian, f_p and second derivatives written with matrix
products; a symmetrizer for symmetric W).
"""

from __future__ import annotations

import importlib

import numpy as np

# The seed that makes every benchmark figure comparable across tools.
SEED = 20240501

# Size of the bias relative to the weights: it makes the pitchfork at
# beta = 1 / lambda_max(W) imperfect, so the primary branch has no fold.
BIAS_SCALE = 0.05


def _model(module):
    """A module of `bifurc.models` (its constructors share the modules' names)."""
    return importlib.import_module(f"bifurc.models.{module}")


def hopfield_weights(n, symmetric=True):
    """The benchmark weights and bias.

    Returns
    -------
    W : ndarray, shape (n, n)
        Zero diagonal; symmetric with spectrum near [-sqrt 2, sqrt 2] when
        `symmetric`, else ``A / sqrt(n)``.
    b : ndarray, shape (n,)
    """
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((n, n))
    if symmetric:
        weights = (a + a.T) / np.sqrt(2 * n)
    else:
        weights = a / np.sqrt(n)
    np.fill_diagonal(weights, 0.0)

    bias = BIAS_SCALE * rng.standard_normal(n)
    return weights, bias


def hopfield_benchmark(n, symmetric=True):
    """The benchmark Hopfield network with n units, continued in ``beta``.

    Returns
    -------
    System
        Parameters ``beta`` (default 0.1), ``leak`` (1) and ``bias_scale``
        (1).
    """
    weights, bias = hopfield_weights(n, symmetric)
    kind = "hopfield" if symmetric else "hopfield_nonsym"
    return _model("hopfield").hopfield(weights, bias, beta=0.1, name=f"{kind}_{n}")


def modern_patterns(n_patterns=10, dim=100):
    """Binary patterns of unit norm, as the columns of a (dim, n_patterns) array."""
    rng = np.random.default_rng(SEED)
    return np.sign(rng.standard_normal((dim, n_patterns))) / np.sqrt(dim)


def modern_hopfield_benchmark(n_patterns=10, dim=100):
    """The modern Hopfield network on `modern_patterns`, continued in ``beta``."""
    patterns = modern_patterns(n_patterns, dim).T
    name = f"modern_hopfield_{n_patterns}x{dim}"
    return _model("modern_hopfield").modern_hopfield(patterns, beta=0.1, name=name)


def cusp():
    """The cusp x' = mu + lam x - x^3 with lam = 1: folds at mu = +-2 / (3 sqrt 3)."""
    return _model("normal_forms").cusp(mu=-1.0, lam=1.0)
