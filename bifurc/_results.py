"""Results of continuation: branches, special points, diagrams, and their tables.

All results are frozen dataclasses carrying a `Status` and a message.  Their
``to_dataframe()`` gives one tidy table and ``to_csv(path)`` writes that table
atomically.

Branch CSV format
-----------------
One row per point, in the order of arclength, with located special points
inserted as rows where they lie.  Leading columns, always in this order:

``branch``       branch number (0 for a single branch)
``point``        row number along the branch, from 0
``label``        LP, BP, H or EP; empty for a regular point
``kind``         saddle-node, pitchfork, transcritical, branch-point, hopf,
                 end; empty for a regular point
``<parameter>``  the continued parameter, named as in the system
``<variables>``  one column per state variable, named as in the system
``n_unstable``   number of eigenvalues of f_x with positive real part (for a
                 special point, the smaller count of its two sides)

then ``arclength``, ``stable`` (n_unstable == 0), ``max_real`` (largest real
part of the eigenvalues, empty when they were not computed, or when only
some were (large non-symmetric systems) and all of those are stable) and
``precision`` (bracket width in the parameter of a located special point).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._io import atomic_path
from ._status import Status

__all__ = ["SpecialPoint", "Branch", "Diagram", "special_points_table"]

# Special points of one diagram closer than this (relative, in the parameter
# and the state) are the same event met on two branches.
_SAME_POINT_RTOL = 1e-7


@dataclasses.dataclass(frozen=True, eq=False)
class SpecialPoint:
    """A located special point of a branch.

    Attributes
    ----------
    label : str
        ``"LP"`` (fold), ``"BP"`` (branch point), ``"H"`` (Hopf) or ``"EP"``
        (end point).
    kind : str
        ``"saddle-node"``, ``"pitchfork"``, ``"transcritical"``,
        ``"branch-point"`` (not classified), ``"hopf"`` or ``"end"``.
    param : str
        Name of the continued parameter.
    value : float
        Its value at the point.
    x : ndarray, shape (n,)
        The state.
    index : int
        The point lies between branch points ``index`` and ``index + 1``
        (end points: the index of the end).
    tangent : ndarray, shape (n + 1,)
        Unit tangent of the branch (state, then parameter).
    converged : bool
        Whether the location met its tolerance.
    bracket : tuple of float
        The last parameter interval known to contain the point.
    precision : float
        Width of `bracket`.
    iterations : int
        Test-function evaluations used by the location.
    residual : float
        Max-norm of f at the point.
    n_unstable : tuple of int
        Unstable eigenvalue counts ``(before, after)`` along the branch.
    data : dict
        Extras: ``"arclength"``; Hopf ``"frequency"``; branch-point
        ``"directions"`` (tangents of the two branches) and
        ``"coefficients"`` of the algebraic branching equation.
    """

    label: str
    kind: str
    param: str
    value: float
    x: np.ndarray
    index: int
    tangent: np.ndarray
    converged: bool = True
    bracket: tuple = (math.nan, math.nan)
    precision: float = math.nan
    iterations: int = 0
    residual: float = math.nan
    n_unstable: tuple = (-1, -1)
    data: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        state = np.array2string(np.asarray(self.x), precision=6, threshold=6)
        how = "located" if self.converged else "NOT converged"
        return (
            f"{self.label} ({self.kind}) at {self.param} = {self.value:.12g}, "
            f"x = {state} [{how}, precision {self.precision:.1e}]"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Branch:
    """A continued branch of rest points.

    Attributes
    ----------
    system : System
    param : str
        Name of the continued parameter.
    param_index : int
    p_fixed : ndarray, shape (m,)
        The parameter vector; entry `param_index` varies along the branch.
    x : ndarray, shape (N, n)
        States, in the order of arclength.
    p : ndarray, shape (N,)
        Values of the continued parameter.
    s : ndarray, shape (N,)
        Arclength (in the weighted norm of the run), increasing from 0.
    tangent : ndarray, shape (N, n + 1)
        Unit tangents, oriented along increasing arclength.
    n_unstable : ndarray of int, shape (N,)
        Number of eigenvalues of f_x with positive real part (-1 when
        stability was not computed).
    eigenvalues : list of ndarray
        Eigenvalues of f_x at each point: all of them for small systems; for
        large non-symmetric ones all of them at the points where the
        tracking was renewed and elsewhere those in a disc about 0 that
        holds every eigenvalue right of the imaginary axis (see
        ``ContinuationOptions.stability``); none (empty) for large symmetric
        ones whose stability comes from the inertia.
    special_points : tuple of SpecialPoint
        Located points and the two end points (EP), by arclength.
    status : Status
    message : str
    p_range : tuple of float
        The parameter interval of the run.
    info : dict
        Counters (``"steps"``, ``"rejected"``, ``"f"``, ``"jacobian"``,
        ``"lu"``), ``"start_correction"`` and the options used.
    """

    system: object
    param: str
    param_index: int
    p_fixed: np.ndarray
    x: np.ndarray
    p: np.ndarray
    s: np.ndarray
    tangent: np.ndarray
    n_unstable: np.ndarray
    eigenvalues: list
    special_points: tuple
    status: Status
    message: str
    p_range: tuple = (-math.inf, math.inf)
    info: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return int(self.p.shape[0])

    @property
    def success(self):
        """Whether the run ended normally (bound reached, closed branch)."""
        return self.status.success

    def params_at(self, i):
        """Full parameter vector at point `i`, shape (m,)."""
        p = np.array(self.p_fixed)
        p[self.param_index] = self.p[i]
        return p

    def __str__(self):
        name = getattr(self.system, "name", "") or "system"
        lines = [
            f"Branch of {name} in {self.param}: {len(self)} points, "
            f"{self.param} from {self.p[0]:.6g} to {self.p[-1]:.6g}"
            if len(self)
            else f"Branch of {name} in {self.param}: no points",
            f"status: {self.status.code} ({self.message})",
        ]

        located = [sp for sp in self.special_points if sp.label != "EP"]
        if located:
            lines.append(special_points_table(located, self.system.variables))

        return "\n".join(lines)

    def to_dataframe(self, branch=0):
        """The branch as a table in the documented CSV layout (module docstring).

        Parameters
        ----------
        branch : int
            Value of the ``branch`` column.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        return pd.DataFrame(_branch_columns(self, branch))

    def to_csv(self, path, branch=0):
        """Write `to_dataframe` to `path` atomically (no partial file on failure)."""
        _write_frame(self.to_dataframe(branch), path)


@dataclasses.dataclass(frozen=True, eq=False)
class Diagram:
    """Several branches: a primary branch and those switched to at its BPs.

    Attributes
    ----------
    branches : tuple of Branch
    origins : tuple
        For each branch, None (primary) or ``(parent, special_index)``: the
        branch it was switched from and the index of the BP in that branch's
        `special_points`.
    status : Status
        The worst status of the branches.
    message : str
    """

    branches: tuple
    origins: tuple
    status: Status
    message: str

    @property
    def special_points(self):
        """Located special points of every branch, each event listed once."""
        unique = []
        for branch in self.branches:
            for point in branch.special_points:
                if point.label == "EP":
                    continue
                if not any(_same_point(point, other) for other in unique):
                    unique.append(point)

        return tuple(unique)

    def __len__(self):
        return len(self.branches)

    def __str__(self):
        lines = [f"Diagram: {len(self.branches)} branches; status {self.status.code}"]
        for i, branch in enumerate(self.branches):
            origin = self.origins[i]
            where = "primary" if origin is None else f"from branch {origin[0]}"
            lines.append(
                f"  branch {i} ({where}): {len(branch)} points, {branch.status.code}"
            )

        points = self.special_points
        if points:
            lines.append(
                special_points_table(points, self.branches[0].system.variables)
            )

        return "\n".join(lines)

    def to_dataframe(self):
        """All branches in the branch CSV layout, numbered by the ``branch`` column."""
        import pandas as pd

        frames = [b.to_dataframe(i) for i, b in enumerate(self.branches)]
        return pd.concat(frames, ignore_index=True)

    def to_csv(self, path):
        """Write `to_dataframe` to `path` atomically."""
        _write_frame(self.to_dataframe(), path)


def _same_point(a, b):
    """Whether two special points are the same event."""
    if a.label != b.label or a.param != b.param:
        return False
    scale = 1.0 + abs(a.value) + np.linalg.norm(a.x)
    close = abs(a.value - b.value) + np.linalg.norm(np.asarray(a.x) - b.x)

    return close <= _SAME_POINT_RTOL * scale


def special_points_table(points, variables, max_variables=4):
    """Plain-text table of special points: label, kind, parameter, state.

    Parameters
    ----------
    points : sequence of SpecialPoint
    variables : sequence of str
    max_variables : int
        Show at most this many state variables (then ``...``).

    Returns
    -------
    str
    """
    if not points:
        return "(no special points)"
    shown = list(variables)[:max_variables]
    head = ["label", "kind", points[0].param, *shown, "n_unstable", "located"]
    rows = [head]

    for sp in points:
        state = [f"{v:.10g}" for v in np.asarray(sp.x)[: len(shown)]]
        counts = "->".join(str(c) for c in sp.n_unstable)
        located = "yes" if sp.converged else "no"
        rows.append([sp.label, sp.kind, f"{sp.value:.12g}", *state, counts, located])
    widths = [max(len(r[j]) for r in rows) for j in range(len(head))]

    text = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if len(variables) > max_variables:
        text[0] += "  ..."

    return "\n".join(line.rstrip() for line in text)


def _branch_columns(branch, number):
    """Columns of the branch table, as a dict of equal-length arrays."""
    located = [sp for sp in branch.special_points if sp.label != "EP"]
    n_points, n_special = len(branch), len(located)
    # Regular point i sorts at i; a special point between i and i+1 just after i.
    keys = np.concatenate(
        [np.arange(n_points, dtype=float), [sp.index + 0.5 for sp in located]]
    )
    order = np.argsort(keys, kind="stable")

    labels = np.array([""] * n_points + [sp.label for sp in located], dtype=object)
    kinds = np.array([""] * n_points + [sp.kind for sp in located], dtype=object)
    for sp in branch.special_points:
        if sp.label == "EP" and 0 <= sp.index < n_points:
            labels[sp.index], kinds[sp.index] = sp.label, sp.kind

    columns = {
        "branch": np.full(n_points + n_special, number, dtype=int),
        "point": np.empty(n_points + n_special, dtype=int),
        "label": labels,
        "kind": kinds,
    }

    columns.update(_value_columns(branch, located))
    columns["point"][order] = np.arange(order.size)
    return {name: values[order] for name, values in columns.items()}


def _value_columns(branch, located):
    """Parameter, state, stability and extra columns (unsorted)."""
    n = branch.system.n
    xs = np.asarray(branch.x).reshape(-1, n)
    special_x = np.array([sp.x for sp in located]).reshape(-1, n)
    state = np.vstack([xs, special_x])
    columns = {branch.param: np.concatenate([branch.p, [sp.value for sp in located]])}

    for j, name in enumerate(branch.system.variables):
        columns[name] = state[:, j]

    special_counts = [min(sp.n_unstable) for sp in located]
    n_unstable = np.concatenate([branch.n_unstable, special_counts]).astype(int)
    columns["n_unstable"] = n_unstable
    columns["arclength"] = np.concatenate(
        [branch.s, [sp.data.get("arclength", math.nan) for sp in located]]
    )

    columns["stable"] = n_unstable == 0
    columns["max_real"] = np.concatenate(
        [
            [_max_real(e, branch.system.n) for e in branch.eigenvalues],
            [math.nan] * len(located),
        ]
    )

    columns["precision"] = np.concatenate(
        [np.full(len(branch), math.nan), [sp.precision for sp in located]]
    )

    return columns


def _max_real(eigenvalues, n):
    """Largest real part; NaN when a partial spectrum cannot tell it.

    A partial spectrum (a large non-symmetric system) holds every eigenvalue
    right of the axis, so its largest real part is exact when positive.
    """
    values = np.asarray(eigenvalues)
    if values.size == 0:
        return math.nan
    largest = float(np.max(values.real))

    return largest if values.size >= n or largest > 0 else math.nan


def _write_frame(frame, path):
    """Write a DataFrame as CSV through a temporary file."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")
