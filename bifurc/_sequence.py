"""The ordered bifurcation sequence of a one-parameter family of flows.

`bifurcation_sequence` finds every rest point in a box at sample values of
the parameter, continues each across the interval, switches branches at every
branch point, and cuts the branches into *tracks*: pieces of a branch between
two events, each one rest point with a stable id.  Local events (LP, BP, H)
come from the continuation; between them the graph of rest points is
computed at sample values and a change in where a saddle's unstable branch
lands reveals a saddle-to-saddle connection (HET), located with
`bifurc.find_connection`.

Notes
-----
The structure between events is that of a Morse-Smale flow: hyperbolic rest
points, no saddle-to-saddle connections, no cycles (Palis & de Melo; see
Kuznetsov, "Elements of Applied Bifurcation Theory", ch. 2).  The events of
a generic one-parameter family are the codimension-one failures of these
conditions: a fold or a Hopf point of a rest point, a branch point when the
family has a symmetry, and a heteroclinic connection between saddles of the
same Morse index in a gradient flow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections import Counter

import numpy as np
import pandas as pd

from ._errors import BifurcError, InputError
from ._io import atomic_path
from ._landscape import (
    DEFAULT_N_STARTS,
    RestPoint,
    classify_rest_point,
    find_rest_points,
    in_box,
    newton,
    resolve_box,
    rest_point_graph,
)
from ._status import Status

__all__ = ["Event", "Interval", "Sequence", "Track", "bifurcation_sequence"]

logger = logging.getLogger(__name__)

# Number of regular sample values of the parameter (census and graph); the
# ends of the interval are two of them.
DEFAULT_N_SAMPLES = 11

# Rounds of refinement where a branch stops for no reason (each round adds
# the midpoint of the sample interval around every unexplained stop).
DEFAULT_MAX_REFINE = 2

# Default continuation steps as fractions of the parameter interval.
DS_FRACTION = 0.01
DS_MAX_FRACTION = 0.05

# Two special points are one event when their parameter values agree to
# this fraction of the interval and their states to this fraction of the
# box width (events are located to about 1e-10).
EVENT_P_TOL = 1e-7
EVENT_X_TOL = 1e-5

# Two rest points at one parameter value are the same when they agree to
# this fraction of the box width (after Newton's method).
SAME_POINT_TOL = 1e-6

# A branch passes through an event when the event lies within this fraction
# of a step's length from the chord between two branch points (the chord
# deviates from the curve by about (step length)^2 * curvature / 8).
CHORD_TOL = 0.1

# Graph samples keep away from events by this fraction of the interval
# between them: close to a non-hyperbolic point orbits slow down and their
# end is hard to decide.
GRAPH_MARGIN = 0.1

# Bisection on where a saddle's unstable branch lands narrows the bracket
# of a connection to this fraction of the sample interval before the
# connection solver refines it.
HET_BRACKET_FRACTION = 1e-3

# Significant digits of floats in CSV files: enough for located values,
# few enough to be identical from run to run.
CSV_FLOAT_FORMAT = "%.12g"

_LOCAL_LABELS = ("LP", "BP", "H")

# ----------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True, eq=False)
class Track:
    """One rest point followed across a parameter interval with no event inside.

    Attributes
    ----------
    id : int
        Its identifier in tables and graphs.
    kind : str
        Type inside the interval (``"sink"``, ``"saddle"``, ``"source"``).
    morse_index : int
        Number of unstable directions inside the interval.
    p : ndarray, shape (K,)
        Parameter values of the points stored, increasing.
    x : ndarray, shape (K, n)
        The rest point at those values.
    ends : tuple of two str
        Why the track ends at its low and high parameter ends: ``"event"``,
        ``"range"`` (end of the interval), ``"box"`` (leaves the box),
        ``"stop"`` (the continuation stopped) or ``"turn"`` (the parameter
        turned back without a located fold).
    events : tuple of two int or None
        Index into `Sequence.events` of the event at each end, if any.
    complex_pair : bool
        Whether it has complex eigenvalues (a focus).
    """

    id: int
    kind: str
    morse_index: int
    p: np.ndarray
    x: np.ndarray
    ends: tuple
    events: tuple
    complex_pair: bool = False

    @property
    def label(self):
        """``"sink"``, ``"saddle"``, ``"index-2 saddle"``, ..."""
        point = RestPoint(self.x[0], self.morse_index, self.kind, np.zeros(0))
        return dataclasses.replace(point, complex_pair=self.complex_pair).label

    def covers(self, value):
        """Whether `value` lies strictly inside the track's parameter interval."""
        return bool(self.p[0] < value < self.p[-1])

    def guess(self, value):
        """Linear interpolation of the state at `value`, shape (n,)."""
        return np.array([np.interp(value, self.p, column) for column in self.x.T])


@dataclasses.dataclass(frozen=True, eq=False)
class Event:
    """One row of the sequence table.

    Attributes
    ----------
    order : int
        Position in the sweep (0, 1, ...).
    kind : str
        ``"saddle-node"``, ``"pitchfork"``, ``"transcritical"``, ``"hopf"``
        or ``"heteroclinic"``.
    label : str
        ``"LP"``, ``"BP"``, ``"H"`` or ``"HET"``.
    param : str
    value : float
        The parameter value of the event.
    x : ndarray, shape (n,)
        The event point; for HET the midpoint of the connecting orbit.
    source, target : tuple of int
        Ids of the rest points before and after (for HET: the two saddles).
    morse_source, morse_target : tuple of int
        Their Morse indices.
    n_rest_before, n_rest_after, n_sinks_before, n_sinks_after : int
        Counts in the box just before and just after, in sweep direction.
    description : str
        How the graph changes.
    p_before, p_after : float
        The regular samples that bracket the event (sweep order).
    converged : bool
        Whether its location converged.
    precision : float
        Estimated error of `value`.
    located_by : str
        ``"continuation"``, ``"connection"`` or ``"bisection"``.
    fails : str
        The Morse-Smale condition that fails at the event.
    """

    order: int
    kind: str
    label: str
    param: str
    value: float
    x: np.ndarray
    source: tuple
    target: tuple
    morse_source: tuple
    morse_target: tuple
    n_rest_before: int
    n_rest_after: int
    n_sinks_before: int
    n_sinks_after: int
    description: str
    p_before: float = float("nan")
    p_after: float = float("nan")
    converged: bool = True
    precision: float = float("nan")
    located_by: str = "continuation"
    fails: str = ""

    @property
    def morse_indices(self):
        """Morse indices as text: ``"0 -> 0 0 1"``."""
        before = " ".join(str(i) for i in self.morse_source)
        after = " ".join(str(i) for i in self.morse_target)
        return f"{before} -> {after}".strip()


@dataclasses.dataclass(frozen=True)
class Interval:
    """The flow between two consecutive events (sweep order).

    Attributes
    ----------
    start, end : float
        Parameter values at its ends (sweep order).
    n_rest, n_sinks : int
        Counts at its midpoint.
    morse_smale : bool
        All rest points hyperbolic, no saddle-to-saddle connection and no
        cycle in the graphs sampled inside, and gradient-like.
    gradient_like : bool
        False after a Hopf point or when an unstable branch has no decided
        end (a periodic orbit may attract it) or the graph has a cycle.
    reason : str
        Which condition fails, or ``""``.
    """

    start: float
    end: float
    n_rest: int
    n_sinks: int
    morse_smale: bool
    gradient_like: bool
    reason: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class Sequence:
    """The ordered events of a one-parameter family and the flow between them.

    Attributes
    ----------
    system : System
    param : str
        The parameter swept.
    p_range : tuple of two floats
        ``(start, stop)`` as given: the sweep runs from start to stop, and
        "before" and "after" are taken in that direction.
    p : ndarray, shape (m,)
        Values of the other parameters (the swept entry holds `start`).
    box : tuple of two ndarrays, shape (n,)
        The region searched.
    events : tuple of Event
        In sweep order.
    intervals : tuple of Interval
        Between consecutive events, in sweep order.
    tracks : tuple of Track
        Every rest point followed, by id.
    branches : tuple of Branch
        Every branch computed (the diagram).
    samples : tuple of float
        Parameter values of the censuses, in sweep order.
    graphs : tuple of RestPointGraph
        Graphs at the sample values used for the global events.
    hopf_value : float or None
        The first Hopf point in sweep order: beyond it the flow need not be
        gradient-like and graphs carry nodes only.
    status : Status
    message : str
    """

    system: object
    param: str
    p_range: tuple
    p: np.ndarray
    box: tuple
    events: tuple
    intervals: tuple
    tracks: tuple
    branches: tuple
    samples: tuple
    graphs: tuple
    hopf_value: float | None = None
    status: Status = Status.SUCCESS
    message: str = ""
    manifold_options: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def sweep(self):
        """+1 when the parameter rises along the sweep, -1 when it falls."""
        return 1 if self.p_range[1] > self.p_range[0] else -1

    @property
    def table(self):
        """The sequence table (a new DataFrame on each access)."""
        return self.to_dataframe()

    @property
    def diagram(self):
        """A `Diagram` of every branch computed."""
        from ._results import Diagram

        return Diagram(branches=tuple(self.branches))

    def to_dataframe(self):
        """One row per event, in sweep order.

        Columns: ``order, kind, label, param, value``, one per state
        variable, ``source, target, morse_indices, n_rest_before,
        n_rest_after, n_sinks_before, n_sinks_after, description``, then
        ``p_before, p_after, converged, precision, located_by, fails``.
        ``source`` and ``target`` hold rest-point ids separated by spaces.
        """
        rows = [_event_row(event, self.system.variables) for event in self.events]
        columns = _table_columns(self.system.variables)
        return pd.DataFrame(rows, columns=columns)

    def to_csv(self, path):
        """Write the table to `path` atomically, floats as ``%.12g``."""
        text = self.to_dataframe().to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
        with atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)

    def intervals_dataframe(self):
        """The intervals between events with their structural-stability verdict."""
        return pd.DataFrame([dataclasses.asdict(item) for item in self.intervals])

    def graph_at(self, value):
        """The graph of rest points at parameter value `value`, with track ids.

        Raises
        ------
        InputError
            When `value` lies outside the swept interval.
        """
        lo, hi = sorted(self.p_range)
        if not lo <= float(value) <= hi:
            raise InputError(
                f"graph_at: {self.param} = {value!r} lies outside the swept "
                f"interval [{lo:.10g}, {hi:.10g}]"
            )
        complete, note = _graph_scope(self.hopf_value, self.sweep, float(value))
        p = np.array(self.p)
        p[self.system.param_index(self.param)] = float(value)
        nodes = _nodes_at(self.system, self.tracks, p, float(value), self.param)
        return rest_point_graph(
            self.system,
            p,
            rest_points=nodes,
            box=self.box,
            param=self.param,
            complete=complete,
            note=note,
            manifold_options=self.manifold_options,
        )

    def to_text(self):
        """The table and the intervals as plain text for a terminal."""
        return _render(self)

    __str__ = to_text


# ----------------------------------------------------------------------
# The driver


def bifurcation_sequence(
    system,
    param,
    p_range,
    *,
    params=None,
    box=None,
    n_samples=DEFAULT_N_SAMPLES,
    n_starts=DEFAULT_N_STARTS,
    seed=0,
    max_refine=DEFAULT_MAX_REFINE,
    connections=True,
    ds=None,
    ds_max=None,
    max_steps=None,
    continuation_options=None,
    manifold_options=None,
    connection_options=None,
    verbose=0,
    progress=False,
):
    """Every local and global bifurcation of `system` as `param` sweeps `p_range`.

    Parameters
    ----------
    system : System
    param : str
        The parameter to sweep.
    p_range : tuple of two floats
        ``(start, stop)``: the sweep runs from start to stop (start > stop
        sweeps downwards) and the table is ordered that way.
    params : dict, optional
        Values of the other parameters (defaults: the system's).
    box : tuple of two array_like, optional
        The region where rest points are sought; ``system.box`` or a cube of
        half-width 10 by default.  Rest points leaving it are no longer
        followed.
    n_samples : int
        Number of regular sample values (at least 2, the ends included).
    n_starts : int
        Quasi-random Newton starts per census.
    seed : int
        Seed of the starts; the same seed gives the same table.
    max_refine : int
        Rounds of extra samples where a branch stops without a reason.
    connections : bool
        Look for saddle-to-saddle connections (HET) between local events.
    ds, ds_max, max_steps : float, float, int, optional
        Continuation steps (default 1% and 5% of the interval, 2000 steps).
    continuation_options : dict, optional
        Further keywords of `bifurc.continuation` and `bifurc.switch_branch`.
    manifold_options, connection_options : dict, optional
        Keywords of `bifurc.unstable_manifold_ends` and
        `bifurc.find_connection`.
    verbose : int
        0 silent, 1 one line per stage, 2 more (via logging).
    progress : bool
        Show a progress bar (tqdm, when installed) or log progress lines.

    Returns
    -------
    Sequence
        With ``status`` INTERRUPTED and what was computed when the run is
        interrupted (Ctrl-C).

    Notes
    -----
    Isolated branches that are born and die between two samples, and
    connections closer than 10% of an interval to a local event, are not
    found; raise `n_samples` to see them.
    """
    index = system.param_index(param)
    start, stop = _check_range(p_range)
    base = system.parameter_vector(params)
    base[index] = start
    settings = _settings(
        n_samples,
        n_starts,
        seed,
        max_refine,
        connections,
        (start, stop),
        ds,
        ds_max,
        max_steps,
        continuation_options,
        manifold_options,
        connection_options,
        verbose,
        progress,
    )
    run = _Run(
        system,
        system.parameters[index],
        base,
        (start, stop),
        resolve_box(system, box),
        settings,
    )
    with run.progress_bar():
        try:
            run.compute()
        except KeyboardInterrupt:
            run.status = Status.INTERRUPTED
            logger.warning(
                "bifurcation_sequence interrupted; returning partial results"
            )
    return run.result()


def _check_range(p_range):
    try:
        start, stop = (float(v) for v in p_range)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"p_range must be two numbers (start, stop), got {p_range!r}"
        ) from exc
    if not (math.isfinite(start) and math.isfinite(stop)) or start == stop:
        raise InputError(
            f"p_range must be two distinct finite numbers, got {p_range!r}"
        )
    return start, stop


@dataclasses.dataclass(frozen=True)
class _Settings:
    n_samples: int
    n_starts: int
    seed: int
    max_refine: int
    connections: bool
    continuation: dict
    manifold: dict
    connection: dict
    verbose: int
    progress: bool


def _settings(
    n_samples,
    n_starts,
    seed,
    max_refine,
    connections,
    p_range,
    ds,
    ds_max,
    max_steps,
    continuation_options,
    manifold_options,
    connection_options,
    verbose,
    progress,
):
    """Validate the options of `bifurcation_sequence`."""
    for name, value, low in (
        ("n_samples", n_samples, 2),
        ("n_starts", n_starts, 1),
        ("max_refine", max_refine, 0),
        ("seed", seed, 0),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < low
        ):
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    width = abs(p_range[1] - p_range[0])
    continuation = {
        "ds": DS_FRACTION * width if ds is None else ds,
        "ds_max": DS_MAX_FRACTION * width if ds_max is None else ds_max,
        **({} if max_steps is None else {"max_steps": max_steps}),
        **(continuation_options or {}),
    }
    return _Settings(
        int(n_samples),
        int(n_starts),
        int(seed),
        int(max_refine),
        bool(connections),
        continuation,
        dict(manifold_options or {}),
        dict(connection_options or {}),
        int(verbose),
        bool(progress),
    )


@dataclasses.dataclass
class _Local:
    """A local event gathered from the branches (working data)."""

    label: str
    kind: str
    value: float
    x: np.ndarray
    converged: bool
    precision: float

    @classmethod
    def from_point(cls, point):
        precision = getattr(point, "precision", float("nan"))
        return cls(
            point.label,
            point.kind,
            float(point.value),
            np.asarray(point.x, float),
            bool(point.converged),
            float(np.nan if precision is None else precision),
        )

    def absorb(self, point):
        """Keep the better located of this event and special point `point`."""
        other = _Local.from_point(point)
        if (other.converged, -_finite(other.precision)) > (
            self.converged,
            -_finite(self.precision),
        ):
            self.value, self.x = other.value, other.x
            self.converged, self.precision = other.converged, other.precision


@dataclasses.dataclass
class _Global:
    """A located saddle-to-saddle connection (working data)."""

    value: float
    x: np.ndarray
    source: int
    target: int
    old: tuple
    new: tuple
    bracket: tuple
    converged: bool
    precision: float
    located_by: str


class _Piece:
    """Part of a branch between two cuts, oriented by increasing parameter."""

    def __init__(self, reason, event):
        self.p, self.x = [], []
        self.ends = [reason, None]
        self.events = [event, None]

    def add(self, p, x):
        self.p.append(float(p))
        self.x.append(np.asarray(x, float))

    def turns(self, p):
        """Whether adding `p` reverses the direction of the parameter."""
        if len(self.p) < 2 or p == self.p[-1]:
            return False
        return (self.p[-1] - self.p[-2]) * (p - self.p[-1]) < 0

    def close(self, reason, event=None):
        """Set the far end and orient the piece by increasing parameter."""
        self.ends[1], self.events[1] = reason, event
        if len(self.p) > 1 and self.p[-1] < self.p[0]:
            self.p.reverse()
            self.x.reverse()
            self.ends.reverse()
            self.events.reverse()
        return self

    @property
    def lo(self):
        return self.p[0]

    @property
    def hi(self):
        return self.p[-1]

    def guess(self, value):
        return np.array(
            [np.interp(value, self.p, column) for column in np.array(self.x).T]
        )

    def union(self, other, tiny):
        """This piece extended by the parts of `other` outside its interval."""
        merged = _Piece(None, None)
        pairs = list(zip(self.p, self.x, strict=True))
        pairs += [
            (p, x)
            for p, x in zip(other.p, other.x, strict=True)
            if p < self.lo - tiny or p > self.hi + tiny
        ]
        for p, x in sorted(pairs, key=lambda pair: pair[0]):
            merged.add(p, x)
        low = min((self, other), key=lambda piece: (piece.lo, _END_RANK[piece.ends[0]]))
        high = max(
            (self, other), key=lambda piece: (piece.hi, -_END_RANK[piece.ends[1]])
        )
        merged.ends = [low.ends[0], high.ends[1]]
        merged.events = [low.events[0], high.events[1]]
        return merged


# Which end reason wins when two pieces of one curve are merged.
_END_RANK = {"event": 0, "range": 1, "box": 2, "turn": 3, "stop": 4, None: 5}


class _Run:
    """The working state of one `bifurcation_sequence` run (not returned)."""

    def __init__(self, system, param, base, p_range, box, settings):
        self.system = system
        self.param = param
        self.index = system.param_index(param)
        self.base = base
        self.p_range = p_range
        self.lo, self.hi = sorted(p_range)
        self.sweep = 1 if p_range[1] > p_range[0] else -1
        self.box = box
        self.width = box[1] - box[0]
        self.settings = settings
        self.tiny = 1e-12 * (self.hi - self.lo)
        self.params = {
            name: float(value)
            for i, (name, value) in enumerate(zip(system.parameters, base, strict=True))
            if i != self.index
        }

        self.branches, self.switched, self.samples = [], [], []
        self.unexplained, self.notes = [], []
        self.events = self.tracks = None
        self.globals, self.graphs = [], []
        self.status = Status.SUCCESS
        self.bar = None

    # Stages --------------------------------------------------------------

    def compute(self):
        """Census and continuation, refinement, local events, tracks, global events."""
        self._stage("census and continuation")
        self._sample(np.linspace(self.lo, self.hi, self.settings.n_samples))
        for _ in range(self.settings.max_refine):
            extra = self._refinement()
            if not extra:
                break
            self._stage(f"refining at {len(extra)} values")
            self._sample(extra)

        self.events = self._local_events()
        self.tracks = self._build_tracks()
        if self.settings.connections:
            self._stage("graphs and connections")
            self._global_events()

    def p_at(self, value):
        """Full parameter vector at `value` of the swept parameter."""
        p = np.array(self.base)
        p[self.index] = value
        return p

    @contextlib.contextmanager
    def progress_bar(self):
        """Show a progress bar for the duration of the run when asked."""
        if self.settings.progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(
                    total=self.settings.n_samples, desc="sequence", leave=False
                )
        try:
            yield
        finally:
            if self.bar is not None:
                self.bar.close()

    def _stage(self, text):
        level = (
            logging.INFO
            if self.settings.verbose or self.settings.progress
            else logging.DEBUG
        )
        logger.log(level, "%s: %s", self.param, text)
        if self.bar is not None:
            self.bar.set_description(text[:30])

    def _advance(self, text):
        if self.bar is not None:
            self.bar.total = max(self.bar.total or 0, self.bar.n + 1)
            self.bar.update(1)
        elif self.settings.verbose >= 2:
            logger.info("%s", text)

    # Census and continuation ---------------------------------------------

    def _sample(self, values):
        """Census at each value; continue every rest point not yet on a branch."""
        for value in sorted(float(v) for v in values):
            self.samples.append(value)
            census = find_rest_points(
                self.system,
                self.p_at(value),
                box=self.box,
                n_starts=self.settings.n_starts,
                seed=self.settings.seed,
                known=self.points_at(value),
            )
            for rest_point in census:
                if not self._known(rest_point.x, value):
                    self._continue_from(rest_point.x, value)
            self._advance(f"census at {self.param} = {value:.6g}: {len(census)} new")

    def points_at(self, value, branches=None):
        """Rest points on the branches at `value`, corrected by Newton, in the box."""
        p = self.p_at(value)
        points = []
        for branch in self.branches if branches is None else branches:
            for guess in _crossings(branch, value):
                x, converged = newton(self.system, guess, p, scale=self.width)
                if converged and in_box(x, self.box) and not self._listed(x, points):
                    points.append(x)
        return points

    def _listed(self, x, points):
        return any(np.max(np.abs(x - y) / self.width) <= SAME_POINT_TOL for y in points)

    def _known(self, x, value):
        return self._listed(x, self.points_at(value))

    def _continue_from(self, x, value):
        from ._continuation import continuation

        try:
            branch = continuation(
                self.system,
                x,
                self.param,
                (self.lo, self.hi),
                p0=value,
                params=self.params,
                direction="both",
                **self.settings.continuation,
            )
        except BifurcError as exc:
            self.unexplained.append(value)
            self.notes.append(
                f"no branch from {_state(x)} at {self.param} = {value:.6g}: {exc}"
            )
            return
        if len(branch) >= 2 and not self._duplicate(branch):
            self._add(branch)

    def _duplicate(self, branch):
        """Whether every one of a few interior points of `branch` is already known."""
        count = len(branch)
        picks = sorted({count // 4, count // 2, (3 * count) // 4})
        return all(self._known(branch.x[i], float(branch.p[i])) for i in picks)

    def _add(self, branch):
        """Keep `branch`, note where it stops early, and switch at its BPs."""
        from ._switching import switch_branch

        queue = [branch]
        while queue:
            current = queue.pop(0)
            self.branches.append(current)
            self._note_stops(current)
            for point in current.special_points:
                if (
                    point.label != "BP"
                    or not self._inside(point)
                    or self._switched(point)
                ):
                    continue
                self.switched.append(point)
                try:
                    new = switch_branch(current, point, **self.settings.continuation)
                except BifurcError as exc:
                    self.notes.append(
                        f"no switch at BP {self.param} = {point.value:.10g}: {exc}"
                    )
                    continue
                if len(new) >= 2 and not self._duplicate(new):
                    queue.append(new)

    def _switched(self, point):
        return any(_same_event(point, other, self) for other in self.switched)

    def _inside(self, point):
        return self.lo + self.tiny < point.value < self.hi - self.tiny and in_box(
            np.asarray(point.x, float), self.box
        )

    def _at_range_end(self, value):
        tol = 1e-9 * (self.hi - self.lo)
        return abs(value - self.lo) <= tol or abs(value - self.hi) <= tol

    def _note_stops(self, branch):
        """Record where `branch` stops inside the box for no reason."""
        if branch.status == Status.CLOSED:
            return
        for end in (0, -1):
            value = float(branch.p[end])
            if not self._at_range_end(value) and in_box(branch.x[end], self.box):
                self.unexplained.append(value)

    def _refinement(self):
        """Midpoints of the sample intervals holding an unexplained stop."""
        samples = np.array(sorted(set(self.samples)))
        extra = set()
        for value in self.unexplained:
            j = int(np.clip(np.searchsorted(samples, value), 1, samples.size - 1))
            mid = 0.5 * (samples[j - 1] + samples[j])
            if samples[j] - samples[j - 1] > 1e-6 * (self.hi - self.lo):
                extra.add(float(mid))
        self.unexplained = []
        return sorted(extra - set(self.samples))

    # Local events and tracks ---------------------------------------------

    def _local_events(self):
        """LP, BP and H points of all branches, one per event, by increasing value."""
        points = [
            point
            for branch in self.branches
            for point in branch.special_points
            if point.label in _LOCAL_LABELS and self._inside(point)
        ]
        points.sort(key=lambda point: (float(point.value), point.label))
        events = []
        for point in points:
            match = next((e for e in events if _same_event(point, e, self)), None)
            if match is None:
                events.append(_Local.from_point(point))
            else:
                match.absorb(point)
        return sorted(events, key=lambda event: (event.value, event.label))

    def _build_tracks(self):
        """Cut every branch at events, merge the pieces of one curve, number them."""
        pieces = [piece for branch in self.branches for piece in self._pieces(branch)]
        pieces.sort(key=lambda piece: (piece.lo, piece.hi, tuple(piece.x[0])))
        merged = True
        while merged:
            merged = self._merge_once(pieces)
        return self._number(pieces)

    def _pieces(self, branch):
        """The pieces of `branch` inside the box, cut at events and turning points."""
        pieces, current = [], None
        reason = "range" if self._at_range_end(float(branch.p[0])) else "stop"
        for p, x, event in self._branch_items(branch):
            if not in_box(x, self.box):
                if current is not None:
                    pieces.append(current.close("box"))
                current, reason = None, "box"
                continue
            if current is None:
                current = _Piece("event" if event is not None else reason, event)
            elif current.turns(p):
                pieces.append(current.close("turn"))
                last = (current.p[-1], current.x[-1])
                current = _Piece("turn", None)
                current.add(*last)
            current.add(p, x)

            if event is not None and len(current.p) > 1:
                pieces.append(current.close("event", event))
                current = _Piece("event", event)
                current.add(p, x)
        if current is not None:
            end = "range" if self._at_range_end(float(branch.p[-1])) else "stop"
            pieces.append(current.close(end))
        return [piece for piece in pieces if piece.hi - piece.lo > self.tiny]

    def _branch_items(self, branch):
        """Branch points and the events on the branch, in arclength order."""
        items = [
            (float(i), float(branch.p[i]), branch.x[i], None)
            for i in range(len(branch))
        ]
        for k, event in enumerate(self.events):
            position = self._position(branch, event)
            if position is not None:
                items.append((position, event.value, event.x, k))
        items.sort(key=lambda item: item[0])
        return [item[1:] for item in items]

    def _position(self, branch, event):
        """Where `event` lies along `branch` (a fractional index), or None."""
        for point in branch.special_points:
            if point.label == event.label and _same_event(point, event, self):
                return point.index + 0.5
        scale = np.append(self.width, self.hi - self.lo)
        curve = np.column_stack([branch.x, branch.p]) / scale
        target = np.append(event.x, event.value) / scale
        chords = np.diff(curve, axis=0)
        lengths = np.maximum(np.einsum("ij,ij->i", chords, chords), 1e-300)
        t = np.clip(np.einsum("ij,ij->i", target - curve[:-1], chords) / lengths, 0, 1)
        gaps = np.linalg.norm(curve[:-1] + t[:, None] * chords - target, axis=1)
        j = int(np.argmin(gaps / np.sqrt(lengths))) if gaps.size else 0
        if gaps.size and gaps[j] <= CHORD_TOL * np.sqrt(lengths[j]):
            return j + float(t[j])
        return None

    def _merge_once(self, pieces):
        """Merge the first two pieces found to lie on one curve; False if none."""
        for i, first in enumerate(pieces):
            for j in range(i + 1, len(pieces)):
                if self._same_curve(first, pieces[j]):
                    pieces[i] = first.union(pieces.pop(j), self.tiny)
                    return True
        return False

    def _same_curve(self, first, second):
        """Whether two pieces overlap on one curve, or join where both stopped."""
        low, high = max(first.lo, second.lo), min(first.hi, second.hi)
        if high - low > self.tiny:
            value = 0.5 * (low + high)
            return self._same_at(first.guess(value), second.guess(value), value)
        for a, b in ((first, second), (second, first)):
            if abs(a.hi - b.lo) <= self.tiny and a.ends[1] == b.ends[0] == "stop":
                return self._same_at(a.x[-1], b.x[0], a.hi)
        return False

    def _same_at(self, guess_a, guess_b, value):
        if np.max(np.abs(guess_a - guess_b) / self.width) > 0.1:
            return False
        p = self.p_at(value)
        x_a, _ = newton(self.system, guess_a, p, scale=self.width)
        x_b, _ = newton(self.system, guess_b, p, scale=self.width)
        return bool(np.max(np.abs(x_a - x_b) / self.width) <= SAME_POINT_TOL)

    def _number(self, pieces):
        """Tracks with ids in sweep order (then Morse index, then state)."""
        keyed = []
        for piece in pieces:
            value = 0.5 * (piece.lo + piece.hi)
            x, _ = newton(
                self.system, piece.guess(value), self.p_at(value), scale=self.width
            )
            rest_point = classify_rest_point(self.system, x, self.p_at(value))
            first = piece.lo - self.lo if self.sweep > 0 else self.hi - piece.hi
            start = round(first / (self.hi - self.lo) * 1e9)
            rounded = tuple(np.round((x - self.box[0]) / self.width * 1e7).tolist())
            keyed.append(((start, rest_point.morse_index, rounded), piece, rest_point))

        keyed.sort(key=lambda item: item[0])
        return tuple(
            Track(
                id=i,
                kind=rest_point.kind,
                morse_index=rest_point.morse_index,
                p=_frozen(piece.p),
                x=_frozen(piece.x),
                ends=tuple(piece.ends),
                events=tuple(piece.events),
                complex_pair=rest_point.complex_pair,
            )
            for i, (_, piece, rest_point) in enumerate(keyed)
        )

    # Graphs and global events ----------------------------------------------

    def _global_events(self):
        """Graphs between local events; a saddle branch landing elsewhere is a HET."""
        cuts = [self.lo] + [event.value for event in self.events] + [self.hi]
        hopf = self.hopf_value()
        for low, high in zip(cuts[:-1], cuts[1:], strict=True):
            if hopf is not None and (0.5 * (low + high) - hopf) * self.sweep > 0:
                continue
            graphs = [self._graph(value) for value in self._graph_values(low, high)]
            self.graphs += graphs
            self._scan(graphs)

    def hopf_value(self):
        """The first Hopf point in sweep order, or None."""
        values = [event.value for event in self.events or () if event.label == "H"]
        if not values:
            return None
        return min(values) if self.sweep > 0 else max(values)

    def _graph_values(self, low, high):
        """Samples inside (low, high), away from its ends, and the two inner ends."""
        margin = GRAPH_MARGIN * (high - low)
        inner = [v for v in self.samples if low + margin < v < high - margin]
        return sorted({low + margin, high - margin, *inner})

    def _graph(self, value, sources=None):
        p = self.p_at(value)
        nodes = _nodes_at(self.system, self.tracks, p, value, self.box)
        graph = rest_point_graph(
            self.system,
            p,
            rest_points=nodes,
            box=self.box,
            param=self.param,
            sources=sources,
            manifold_options=self.settings.manifold,
        )
        self._advance(f"graph at {self.param} = {value:.6g}")
        return graph

    def _scan(self, graphs):
        """Follow where each saddle's branches land; a change reveals a HET.

        Graphs where a branch's end is undecided are skipped, so that a
        sample lying on the connection itself does not hide it.
        """
        last = {}
        for graph in graphs:
            for node in graph.nodes:
                landing = graph.targets(node.id)
                if (
                    node.morse_index != 1
                    or not node.hyperbolic
                    or "undecided" in landing
                ):
                    continue
                previous = last.get(node.id)
                last[node.id] = graph
                if previous is None or previous.ids != graph.ids:
                    continue
                if previous.targets(node.id) != landing:
                    found = self._locate(node.id, previous, graph)
                    if found is not None:
                        self.globals.append(found)

    def _locate(self, saddle, before, after):
        """Bisect on where the branch lands, then solve for the connection."""
        old, new = before.targets(saddle), after.targets(saddle)
        low, high = before, after
        while high.value - low.value > HET_BRACKET_FRACTION * (
            after.value - before.value
        ):
            middle = self._graph(0.5 * (low.value + high.value), sources=(saddle,))
            if middle.ids != before.ids:
                break
            landing = middle.targets(saddle)
            if landing == old:
                low = middle
            elif landing == new:
                high = middle
            else:
                break

        target = _connection_target(saddle, low, high, old, new)
        if target is None:
            self.notes.append(
                f"branch of saddle {saddle} changes its landing between "
                f"{self.param} = {before.value:.10g} and {after.value:.10g}, "
                "but no saddle lies near its orbit"
            )
            return None
        het = self._connect(saddle, target, low, high)
        het.old, het.new, het.bracket = old, new, (before.value, after.value)
        return het

    def _connect(self, saddle, target, low, high):
        """The connection from `saddle` to `target` with the connection solver."""
        from ._connections import find_connection

        value = 0.5 * (low.value + high.value)
        fallback = _Global(
            value,
            _orbit_midpoint(_changed_orbit(saddle, low, high)),
            saddle,
            target,
            (),
            (),
            (),
            False,
            0.5 * (high.value - low.value),
            "bisection",
        )
        try:
            connection = find_connection(
                self.system,
                low.node(saddle).x,
                low.node(target).x,
                self.param,
                bracket=(low.value, high.value),
                params={**self.params, self.param: low.value},
                source_id=saddle,
                target_id=target,
                **self.settings.connection,
            )
        except BifurcError as exc:
            self.notes.append(f"connection {saddle} -> {target} not refined: {exc}")
            return fallback
        if not connection.status.success:
            self.notes.append(
                f"connection {saddle} -> {target} not refined: {connection.message}"
            )
            return fallback
        fallback.value = float(connection.value)
        fallback.x = _orbit_midpoint(connection.x)
        fallback.converged = True
        fallback.precision = float(connection.error)
        fallback.located_by = "connection"
        return fallback

    # The result ------------------------------------------------------------

    def result(self):
        """The `Sequence` from whatever has been computed."""
        if self.events is None:
            self.events = self._local_events()
        if self.tracks is None:
            self.tracks = self._build_tracks()
        events = self._rows()
        status, message = self._status(events)
        order = self.sweep
        return Sequence(
            system=self.system,
            param=self.param,
            p_range=self.p_range,
            p=_frozen(self.base),
            box=self.box,
            events=tuple(events),
            intervals=self._intervals(events),
            tracks=self.tracks,
            branches=tuple(self.branches),
            samples=tuple(sorted(set(self.samples), key=lambda v: order * v)),
            graphs=tuple(sorted(self.graphs, key=lambda g: order * g.value)),
            hopf_value=self.hopf_value(),
            status=status,
            message=message,
            manifold_options=self.settings.manifold,
        )

    def _status(self, events):
        counts = Counter(event.label for event in events)
        summary = ", ".join(
            f"{counts[k]} {k}" for k in (*_LOCAL_LABELS, "HET") if counts[k]
        )
        message = (
            f"{len(events)} events ({summary or 'none'}) as {self.param} goes from "
            f"{self.p_range[0]:.6g} to {self.p_range[1]:.6g}; "
            f"{len(self.tracks)} rest-point tracks"
        )
        stops = sorted(
            {
                float(track.p[i])
                for track in self.tracks
                for i, end in ((0, 0), (-1, 1))
                if track.ends[end] == "stop"
            }
        )
        if self.status is Status.INTERRUPTED:
            return self.status, f"{Status.INTERRUPTED.text}: {message}"
        if stops:
            where = ", ".join(f"{v:.6g}" for v in stops[:5])
            return Status.INCOMPLETE, (
                f"{message}; rest points stop being followed at "
                f"{self.param} = {where}: "
                "raise max_steps or lower ds_max, or raise max_refine"
            )
        return Status.SUCCESS, message + "".join(f"; {note}" for note in self.notes[:3])

    def _rows(self):
        """Events as table rows, in sweep order."""
        rows = [self._local_row(k, event) for k, event in enumerate(self.events)]
        rows += [self._global_row(het) for het in self.globals]
        rank = {label: i for i, label in enumerate((*_LOCAL_LABELS, "HET"))}
        rows.sort(key=lambda row: (self.sweep * row["value"], rank[row["label"]]))
        return [Event(order=i, **row) for i, row in enumerate(rows)]

    def _local_row(self, k, event):
        before = self._linked(k, "before")
        after = self._linked(k, "after")
        reason = "imaginary pair" if event.label == "H" else "zero eigenvalue"
        return dict(
            kind=event.kind,
            label=event.label,
            param=self.param,
            value=event.value,
            x=_frozen(event.x),
            **self._ends(before, after),
            **self._counts(event.value),
            description=_describe_local(event.label, before, after),
            **self._bracketing(event.value),
            converged=event.converged,
            precision=event.precision,
            located_by="continuation",
            fails=f"hyperbolicity ({reason})",
        )

    def _global_row(self, het):
        old, new = (het.old, het.new) if self.sweep > 0 else (het.new, het.old)
        tracks = {track.id: track for track in self.tracks}
        source, target = tracks[het.source], tracks[het.target]
        bracket = het.bracket[:: self.sweep]
        return dict(
            kind="heteroclinic",
            label="HET",
            param=self.param,
            value=het.value,
            x=_frozen(het.x),
            **self._ends([source], [target]),
            **self._counts(het.value),
            description=_describe_global(source, target, old, new, tracks),
            p_before=bracket[0],
            p_after=bracket[1],
            converged=het.converged,
            precision=het.precision,
            located_by=het.located_by,
            fails="no saddle-to-saddle connection",
        )

    def _linked(self, k, side):
        """Tracks ending at local event `k` before it, or starting after it (sweep)."""
        end = 1 if (side == "before") == (self.sweep > 0) else 0
        return sorted(
            (track for track in self.tracks if track.events[end] == k),
            key=lambda track: track.id,
        )

    @staticmethod
    def _ends(before, after):
        return dict(
            source=tuple(t.id for t in before),
            target=tuple(t.id for t in after),
            morse_source=tuple(t.morse_index for t in before),
            morse_target=tuple(t.morse_index for t in after),
        )

    def _counts(self, value):
        """Rest points and sinks just before and just after `value` (sweep order)."""
        cuts = {self.lo, self.hi, *(e.value for e in self.events)}
        cuts |= {g.value for g in self.globals}
        cuts |= {float(t.p[0]) for t in self.tracks} | {
            float(t.p[-1]) for t in self.tracks
        }
        below = max((c for c in cuts if c < value - self.tiny), default=value)
        above = min((c for c in cuts if c > value + self.tiny), default=value)
        low = self._census_at(0.5 * (below + value))
        high = self._census_at(0.5 * (value + above))
        before, after = (low, high) if self.sweep > 0 else (high, low)
        return dict(
            n_rest_before=before[0],
            n_rest_after=after[0],
            n_sinks_before=before[1],
            n_sinks_after=after[1],
        )

    def _census_at(self, value):
        covering = [track for track in self.tracks if track.covers(value)]
        return len(covering), sum(track.kind == "sink" for track in covering)

    def _bracketing(self, value):
        below = max((v for v in self.samples if v < value), default=self.lo)
        above = min((v for v in self.samples if v > value), default=self.hi)
        before, after = (below, above) if self.sweep > 0 else (above, below)
        return dict(p_before=before, p_after=after)

    def _intervals(self, events):
        """The flow between consecutive events, with the Morse-Smale verdict."""
        cuts = sorted({self.lo, self.hi, *(event.value for event in events)})
        pairs = list(zip(cuts[:-1], cuts[1:], strict=True))[:: self.sweep]
        hopf = self.hopf_value()
        intervals = []
        for low, high in pairs:
            middle = 0.5 * (low + high)
            graphs = [g for g in self.graphs if low < g.value < high]
            failures = _failures(
                self._census_tracks(middle), graphs, hopf, middle, self
            )
            n_rest, n_sinks = self._census_at(middle)
            start, end = (low, high) if self.sweep > 0 else (high, low)
            intervals.append(
                Interval(
                    start=start,
                    end=end,
                    n_rest=n_rest,
                    n_sinks=n_sinks,
                    morse_smale=not failures,
                    gradient_like=not any(gradient for _, gradient in failures),
                    reason="; ".join(text for text, _ in failures),
                )
            )
        return tuple(intervals)

    def _census_tracks(self, value):
        return [track for track in self.tracks if track.covers(value)]


def _failures(tracks, graphs, hopf, middle, run):
    """The Morse-Smale conditions failing in an interval.

    Returns a list of ``(sentence, not_gradient_like)`` pairs.
    """
    failures = []
    if any(track.kind == "non-hyperbolic" for track in tracks):
        failures.append(("a rest point is not hyperbolic", False))
    if hopf is not None and (middle - hopf) * run.sweep > 0:
        failures.append(
            (
                f"after the Hopf point at {run.param} = {hopf:.10g} a periodic orbit "
                "may exist; graph not followed",
                True,
            )
        )
    if any(graph.cycles for graph in graphs):
        failures.append(("the graph has a cycle", True))
    if any(edge.end == "undecided" for graph in graphs for edge in graph.edges):
        failures.append(
            (
                "an unstable branch reaches no rest point (a periodic orbit or "
                "very slow dynamics)",
                True,
            )
        )
    if any(graph.saddle_connections for graph in graphs):
        failures.append(("a saddle-to-saddle connection is present", False))
    return failures


# ----------------------------------------------------------------------
# Helpers


def _crossings(branch, value):
    """Linear interpolations of `branch` where its parameter passes `value`."""
    shifted = np.asarray(branch.p, float) - value
    j = np.flatnonzero(shifted[:-1] * shifted[1:] <= 0)
    if not j.size:
        return np.zeros((0, branch.x.shape[1]))
    denominator = shifted[j] - shifted[j + 1]
    t = np.divide(shifted[j], denominator, out=np.zeros(j.size), where=denominator != 0)
    return branch.x[j] + t[:, None] * (branch.x[j + 1] - branch.x[j])


def _same_event(a, b, run):
    """Whether two special points (or events) with labels are one event."""
    if a.label != b.label:
        return False
    close_p = abs(float(a.value) - float(b.value)) <= EVENT_P_TOL * (run.hi - run.lo)
    gap = np.abs(np.asarray(a.x, float) - np.asarray(b.x, float)) / run.width
    return bool(close_p and np.max(gap) <= EVENT_X_TOL)


def _finite(value):
    return value if np.isfinite(value) else np.inf


def _frozen(array):
    array = np.array(array, dtype=float)
    array.setflags(write=False)
    return array


def _state(x):
    return "(" + ", ".join(f"{v:.6g}" for v in np.asarray(x)[:6]) + ")"


def _nodes_at(system, tracks, p, value, box):
    """The rest points of the tracks covering `value`, with the tracks' ids."""
    width = box[1] - box[0]
    nodes = []
    for track in tracks:
        if track.covers(value):
            x, converged = newton(system, track.guess(value), p, scale=width)
            x = x if converged else track.guess(value)
            residual = float(np.max(np.abs(system.f(x, p))))
            nodes.append(classify_rest_point(system, x, p, residual).with_id(track.id))
    return nodes


def _graph_scope(hopf, sweep, value):
    """Whether a graph at `value` gets edges, and the note when it does not."""
    if hopf is None or (value - hopf) * sweep <= 0:
        return True, ""
    return False, (
        f"past the Hopf point at {hopf:.10g} a periodic orbit may attract the "
        "unstable manifolds; the flow need not be gradient-like and edges are "
        "not computed"
    )


def _changed_orbits(saddle, graph, gone):
    """Orbits of the branches of `saddle` in `graph` whose landing is in `gone`."""
    return [
        edge.orbit
        for edge in graph.edges
        if edge.source == saddle and edge.key[1] in gone and edge.orbit is not None
    ]


def _changed_orbit(saddle, low, high):
    orbits = _changed_orbits(
        saddle, low, set(low.targets(saddle)) - set(high.targets(saddle))
    )
    return orbits[0] if orbits else np.array([low.node(saddle).x])


def _connection_target(saddle, low, high, old, new):
    """The saddle of equal index passed closest by the branch that changes."""
    index = low.node(saddle).morse_index
    candidates = [
        node
        for node in low.nodes
        if node.id != saddle and node.morse_index == index and node.hyperbolic
    ]
    orbits = _changed_orbits(saddle, low, set(Counter(old) - Counter(new)))
    orbits += _changed_orbits(saddle, high, set(Counter(new) - Counter(old)))
    if not candidates or not orbits:
        return None

    def distance(node):
        return min(float(np.min(np.linalg.norm(o - node.x, axis=1))) for o in orbits)

    return min(candidates, key=distance).id


def _orbit_midpoint(orbit):
    """The point halfway along `orbit` (shape (T, n)) by arclength."""
    orbit = np.atleast_2d(np.asarray(orbit, float))
    if len(orbit) < 2:
        return orbit[0]
    arclength = np.concatenate(
        [[0.0], np.cumsum(np.linalg.norm(np.diff(orbit, axis=0), axis=1))]
    )
    half = 0.5 * arclength[-1]
    return np.array([np.interp(half, arclength, column) for column in orbit.T])


# ----------------------------------------------------------------------
# Text


def _plural(label):
    if label == "non-hyperbolic":
        return "non-hyperbolic rest points"
    base, sep, rest = label.partition(" (")
    return f"{base}s{sep}{rest}"


def _names(tracks):
    """``"sinks 4, 5 and saddle 6"`` for the tracks given."""
    groups = {}
    for track in sorted(tracks, key=lambda t: (t.morse_index, t.id)):
        groups.setdefault(track.label, []).append(str(track.id))
    parts = [
        f"{label if len(ids) == 1 else _plural(label)} {', '.join(ids)}"
        for label, ids in groups.items()
    ]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _describe_local(label, before, after):
    """One line on how the rest points change at a local event."""
    if not before and not after:
        return "no followed rest point takes part (the event lies at the box's edge)"
    if not before:
        return f"{_names(after)} appear"
    if not after:
        return f"{_names(before)} collide and disappear"
    if label == "H":
        return (
            f"{_names(before)} becomes {_names(after)}; a periodic orbit is born "
            "or dies here and the graph is not followed beyond"
        )
    if len(before) == 1 and len(after) > 1:
        return f"{_names(before)} splits into {_names(after)}"
    if len(before) > 1 and len(after) == 1:
        return f"{_names(before)} merge into {_names(after)}"
    verb = "becomes" if len(before) == 1 else "become"
    return f"{_names(before)} {verb} {_names(after)}"


def _describe_global(source, target, old, new, tracks):
    """One line on how the landing of a saddle's branch changes at a HET."""

    def where(keys):
        keys = sorted(keys, key=str)
        names = [_names([tracks[k]]) if k in tracks else str(k) for k in keys]
        return " and ".join(names) if names else "nowhere"

    gone = Counter(old) - Counter(new)
    come = Counter(new) - Counter(old)
    return (
        f"a branch of {_names([source])} lands at {where(come)} instead of "
        f"{where(gone)}: connection from {_names([source])} to {_names([target])}"
    )


def _table_columns(variables):
    return [
        "order",
        "kind",
        "label",
        "param",
        "value",
        *variables,
        "source",
        "target",
        "morse_indices",
        "n_rest_before",
        "n_rest_after",
        "n_sinks_before",
        "n_sinks_after",
        "description",
        "p_before",
        "p_after",
        "converged",
        "precision",
        "located_by",
        "fails",
    ]


def _event_row(event, variables):
    row = {
        "order": event.order,
        "kind": event.kind,
        "label": event.label,
        "param": event.param,
        "value": event.value,
    }
    row.update(zip(variables, np.asarray(event.x).tolist(), strict=True))
    row.update(
        source=" ".join(map(str, event.source)),
        target=" ".join(map(str, event.target)),
        morse_indices=event.morse_indices,
    )
    for name in _table_columns(())[8:]:
        row.setdefault(name, getattr(event, name))
    return row


def _render(sequence):
    """Plain text: a header, the events and the intervals."""
    name = sequence.system.name or "system"
    start, stop = sequence.p_range
    lines = [
        f"Bifurcation sequence of {name} as {sequence.param} goes from {start:.6g} "
        f"to {stop:.6g}",
        f"status: {sequence.status.code} ({sequence.message})",
        "",
    ]
    if sequence.events:
        lines.append(f"{'order':>5}  {'label':<5} {sequence.param:>16}  description")
        for event in sequence.events:
            flag = "" if event.converged else "  [not converged]"
            lines.append(
                f"{event.order:>5}  {event.label:<5} {event.value:>16.10g}  "
                f"{event.description}{flag}"
            )
    else:
        lines.append("no events")
    lines += ["", "intervals:"]
    for item in sequence.intervals:
        verdict = (
            "Morse-Smale" if item.morse_smale else f"not Morse-Smale: {item.reason}"
        )
        lines.append(
            f"  {item.start:.6g} .. {item.end:.6g}: {item.n_rest} rest points, "
            f"{item.n_sinks} sinks; {verdict}"
        )
    return "\n".join(lines)
