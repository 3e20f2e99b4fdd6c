"""bifurc: numerical bifurcation analysis of parameterised vector fields.

Continuation of rest points with their stability, location of folds (LP),
branch points (BP) and Hopf points (H), heteroclinic connections (HET), and
the ordered bifurcation sequence of a family of flows with the graph of its
rest points and connecting orbits.
"""

import logging

from ._connections import (
    Connection,
    ConnectionCurve,
    continue_connection,
    find_connection,
)
from ._continuation import ContinuationOptions, continuation, stability
from ._errors import (
    BifurcError,
    ConvergenceError,
    InputError,
    ModelError,
    UserFunctionError,
)
from ._landscape import (
    Census,
    RestPoint,
    RestPointGraph,
    find_rest_points,
    rest_point_graph,
)
from ._manifolds import ManifoldBranch, unstable_manifold_ends
from ._newton import find_equilibrium
from ._results import Branch, Diagram, SpecialPoint
from ._sequence import Sequence, SequenceOptions, bifurcation_sequence
from ._status import Status
from ._structural import Condition, StructuralReport, structural_stability
from ._switching import diagram, switch_branch
from ._system import System
from ._toml import load_model

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Connection",
    "ConnectionCurve",
    "ManifoldBranch",
    "continue_connection",
    "find_connection",
    "unstable_manifold_ends",
    "Branch",
    "ContinuationOptions",
    "Diagram",
    "SpecialPoint",
    "continuation",
    "diagram",
    "find_equilibrium",
    "stability",
    "switch_branch",
    "BifurcError",
    "Census",
    "RestPoint",
    "RestPointGraph",
    "Sequence",
    "SequenceOptions",
    "bifurcation_sequence",
    "find_rest_points",
    "rest_point_graph",
    "Condition",
    "ConvergenceError",
    "InputError",
    "ModelError",
    "Status",
    "StructuralReport",
    "System",
    "UserFunctionError",
    "load_model",
    "structural_stability",
    "__version__",
]
