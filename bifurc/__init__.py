"""bifurc: numerical bifurcation analysis of parameterised vector fields.

Continuation of rest points with their stability, location of folds (LP),
branch points (BP) and Hopf points (H), heteroclinic connections (HET), and
the ordered bifurcation sequence of a family of flows with the graph of its
rest points and connecting orbits.
"""

import logging

from ._errors import (
    BifurcError,
    ConvergenceError,
    InputError,
    ModelError,
    UserFunctionError,
)
from ._status import Status
from ._system import System

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BifurcError",
    "ConvergenceError",
    "InputError",
    "ModelError",
    "Status",
    "System",
    "UserFunctionError",
    "__version__",
]
