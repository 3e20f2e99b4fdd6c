"""Softmax mixtures: the common core of diffusion and modern Hopfield models.

Both fields have the form ``D(z) = sum_i pi_i(z) a_i`` with softmax weights
``pi = softmax(l(z))`` over fixed points ``a_i``.  Along directions u, v
(in state-and-parameter space) with logit derivatives ``alpha(u) = l'[u]``
and ``L = l''[u, v]``, and ``c(u) = alpha(u) - E_pi[alpha(u)]``,

    D'[u]     = sum_i pi_i alpha_i(u) (a_i - D),
    D''[u, v] = sum_i pi_i (c_i(u) c_i(v) + L_i) (a_i - D),

a weighted covariance and third central moment.  Everything is computed
from logits shifted by their maximum (log-sum-exp), so that tiny noise
levels underflow to exact zeros instead of overflowing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["covariance", "first_derivative", "moments", "second_derivative"]


def moments(points, logits):
    """Softmax weights, mean and centred points of a mixture.

    Parameters
    ----------
    points : ndarray, shape (N, d)
    logits : ndarray, shape (N,)

    Returns
    -------
    weights : ndarray, shape (N,)
    mean : ndarray, shape (d,)
    centred : ndarray, shape (N, d)
        ``points - mean``.
    log_total : float
        ``log(sum(exp(logits)))``, computed without overflow.
    """
    top = np.max(logits)
    # Far-away points underflow to exact zero weight: intended, not an error.
    with np.errstate(under="ignore"):
        scaled = np.exp(logits - top)
    total = scaled.sum()

    weights = scaled / total
    mean = weights @ points
    return weights, mean, points - mean, top + np.log(total)


def covariance(weights, centred):
    """Weighted covariance ``sum_i w_i c_i c_i^T``, exactly symmetric, shape (d, d)."""
    root = np.sqrt(weights)[:, None] * centred
    return root.T @ root


def first_derivative(weights, centred, alpha):
    """``D'[u]`` from the logit derivatives ``alpha`` (N,) along u; shape (d,)."""
    return centred.T @ (weights * alpha)


def second_derivative(weights, centred, alpha_u, alpha_v, curvature):
    """``D''[u, v]``; `curvature` (N,) holds ``l''[u, v]``; shape (d,)."""
    spread_u = alpha_u - weights @ alpha_u
    spread_v = alpha_v - weights @ alpha_v
    return centred.T @ (weights * (spread_u * spread_v + curvature))
