"""Pieces shared by the built-in models: names, boxes and second derivatives."""

from __future__ import annotations

import numpy as np

from .._errors import InputError

__all__ = [
    "as_matrix",
    "as_positive",
    "state_names",
    "tensor_second_derivative",
]


def state_names(n, prefix="x"):
    """Names ``x0, x1, ...`` for an n-dimensional state (``x`` alone when n = 1)."""
    if n == 1:
        return (prefix,)
    return tuple(f"{prefix}{i}" for i in range(n))


def as_matrix(value, name, *, ndim=2, square=False):
    """`value` as a finite float array of dimension `ndim` (an int or a tuple).

    Raises
    ------
    InputError
        Naming `name` and showing the bad shape or value.
    """
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an array of numbers, got {value!r}") from None

    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed or array.size == 0:
        dims = " or ".join(f"{k}-D" for k in allowed)
        raise InputError(
            f"{name} must be a non-empty {dims} array, got shape {array.shape}"
        )
    if square and array.shape[0] != array.shape[1]:
        raise InputError(f"{name} must be square, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} must be finite, got {array}")
    return array


def as_positive(value, name, *, allow_zero=False):
    """`value` as a float that is positive (or non-negative), else `InputError`."""
    value = float(value)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (np.isfinite(value) and low_ok):
        bound = "non-negative" if allow_zero else "positive"
        raise InputError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def tensor_second_derivative(hessian):
    """Wrap a full second-derivative tensor as a `System.second_derivative`.

    Parameters
    ----------
    hessian : callable
        ``hessian(x, p) -> ndarray, shape (n, n + m, n + m)``: the second
        derivatives of each component of f with respect to (x, p).  Meant
        for small closed-form models.

    Returns
    -------
    callable
        ``second_derivative(x, p, k, u, v) -> ndarray, shape (n,)`` with `u`
        and `v` of shape ``(n + 1,)`` in (x, p_k) space.
    """

    def second_derivative(x, p, k, u, v):
        n = np.size(x)
        keep = np.r_[0:n, n + k]
        block = hessian(x, p)[:, keep][:, :, keep]
        return np.einsum("ijk,j,k->i", block, u, v)

    return second_derivative
