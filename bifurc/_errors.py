"""Exceptions raised by bifurc.

Numerical trouble met during a run (no convergence, a step below its minimum,
non-finite values) is reported through a result's ``status`` and ``message``;
these exceptions are for bad input and for failures at the very start of a
computation, where there is no partial result to return.
"""

from __future__ import annotations

__all__ = [
    "BifurcError",
    "InputError",
    "ModelError",
    "ConvergenceError",
    "UserFunctionError",
]


class BifurcError(Exception):
    """Base class of every exception raised by bifurc."""


class InputError(BifurcError, ValueError):
    """An argument has the wrong shape, type or value.

    The message names the argument, shows the bad value and says what to
    change.
    """


class ModelError(InputError):
    """A model description (equation string, TOML file) is malformed.

    Attributes
    ----------
    position : int or None
        Zero-based character offset of the problem in the offending string,
        when known.
    source : str or None
        The string or file that was being read.
    """

    def __init__(self, message, *, position=None, source=None):
        super().__init__(message)
        self.position = position
        self.source = source


class ConvergenceError(BifurcError):
    """Newton's method failed where no partial result can be returned.

    Attributes
    ----------
    x : ndarray or None
        The last iterate.
    residual : float or None
        The norm of the residual at the last iterate.
    """

    def __init__(self, message, *, x=None, residual=None):
        super().__init__(message)
        self.x = x
        self.residual = residual


class UserFunctionError(BifurcError):
    """A user-supplied function raised or returned something unusable.

    Raised chained (``raise ... from exc``) so that the original traceback is
    kept; the message shows the state and parameter values of the call.
    """
