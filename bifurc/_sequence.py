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
import re
from collections import Counter

import numpy as np

from ._errors import BifurcError, InputError
from ._io import atomic_path
from ._landscape import (
    DEFAULT_N_STARTS,
    _count,
    classify_rest_point,
    find_rest_points,
    in_box,
    newton,
    resolve_box,
    rest_point_graph,
    type_label,
)
from ._status import Status

__all__ = [
    "Event",
    "Interval",
    "Sequence",
    "SequenceOptions",
    "Track",
    "bifurcation_sequence",
]

logger = logging.getLogger(__name__)

# Number of regular sample values of the parameter (census and graph); the
# ends of the interval are two of them.
DEFAULT_N_SAMPLES = 11

# Starts per census carried by the time-reversed flow before Newton's method
# (a few: each is an ODE solve; sources attract them).
DEFAULT_REVERSE_STARTS = 8

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

# State tolerance per square root of the relative parameter precision of
# an event (a pitchfork's side branches move like sqrt(p - p*)).
PITCHFORK_X_FACTOR = 10.0

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

# Parameter values closer than this fraction of the interval are equal (for
# cutting branches), and range ends are recognised to this fraction.
TINY_FRACTION = 1e-12
RANGE_END_FRACTION = 1e-9

# Track ends where following stopped closer than this fraction of the
# interval are reported together (the two sides of one point).
STOP_GROUP_FRACTION = 1e-6

# At a point where continuation stopped, eigenvalues of f_x below this
# fraction of the largest (or of 1) count as zero: the corrector fails
# within a few tiny steps of a singular point, where the eigenvalues that
# cross zero are far smaller, while at a regular point they are of order one.
NEAR_ZERO_EIGENVALUE_RTOL = 1e-3

# Refinement stops once sample intervals are this fraction of the interval.
MIN_SAMPLE_FRACTION = 1e-6

# Two pieces of branch can be one curve only if their interpolated states
# agree to this fraction of the box width (Newton then decides).
SAME_CURVE_GUESS_TOL = 0.1

# Resolution (relative to the interval and the box) of the keys that order
# tracks: coarse enough that rounding never reorders them.
SORT_RESOLUTION = 1e-9

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
        return type_label(self.kind, self.morse_index, self.complex_pair)

    def covers(self, value):
        """Whether `value` lies in the track's parameter interval (ends included)."""
        return bool(self.p[0] <= value <= self.p[-1])

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
    diagram : Diagram
        Every branch computed, with where each was switched from.
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
    diagram: object
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
    def branches(self):
        """The branches of the diagram."""
        return self.diagram.branches

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
        import pandas as pd

        return pd.DataFrame(rows, columns=columns)

    def to_csv(self, path):
        """Write the table to `path` atomically, floats as ``%.12g``."""
        text = self.to_dataframe().to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
        with atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)

    def intervals_dataframe(self):
        """The intervals between events with their structural-stability verdict."""
        import pandas as pd

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

        nodes = _nodes_at(self.system, self.tracks, p, float(value), self.box)
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


@dataclasses.dataclass(frozen=True)
class SequenceOptions:
    """Settings of `bifurcation_sequence`, validated on construction.

    Attributes
    ----------
    n_samples : int
        Number of regular sample values of the parameter (at least 2, the
        ends of the interval included).
    n_starts : int
        Quasi-random Newton starts per census.
    reverse_starts : int
        How many of them are first carried by the time-reversed flow (see
        `bifurc.find_rest_points`), for sources that Newton's method rarely
        reaches.
    seed : int
        Seed of the starts; the same seed gives the same table.
    max_refine : int
        Rounds of extra samples where a branch stops without a reason.
    connections : bool
        Look for saddle-to-saddle connections (HET) between local events.
    ds, ds_max : float or None
        First and largest continuation step (default: 1% and 5% of the
        interval).
    max_steps : int or None
        Continuation steps per direction (default: that of the core, 2000).
    continuation_options : dict
        Further keywords of `bifurc.continuation` and `bifurc.switch_branch`.
    manifold_options : dict
        Keywords of `bifurc.unstable_manifold_ends`.
    connection_options : dict
        Keywords of `bifurc.find_connection`.
    verbose : int
        0 silent, 1 one line per stage, 2 one per sample (via logging).
    progress : bool
        Show a progress bar (tqdm, when installed).
    """

    n_samples: int = DEFAULT_N_SAMPLES
    n_starts: int = DEFAULT_N_STARTS
    reverse_starts: int = DEFAULT_REVERSE_STARTS
    seed: int = 0
    max_refine: int = DEFAULT_MAX_REFINE
    connections: bool = True
    ds: float | None = None
    ds_max: float | None = None
    max_steps: int | None = None
    continuation_options: dict = dataclasses.field(default_factory=dict)
    manifold_options: dict = dataclasses.field(default_factory=dict)
    connection_options: dict = dataclasses.field(default_factory=dict)
    verbose: int = 0
    progress: bool = False

    def __post_init__(self):
        lows = {"n_samples": 2, "n_starts": 1, "reverse_starts": 0, "max_refine": 0}
        lows.update(seed=0, verbose=0)
        for name, low in lows.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
            if value < low:
                raise InputError(f"{name} must be an integer >= {low}, got {value!r}")

        for name in ("continuation_options", "manifold_options", "connection_options"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, {})
            elif not isinstance(value, dict):
                raise InputError(f"{name} must be a dict, got {type(value).__name__}")

    def continuation_keywords(self, width):
        """Keywords for `bifurc.continuation` over an interval of `width`."""
        steps = {
            "ds": DS_FRACTION * width if self.ds is None else self.ds,
            "ds_max": DS_MAX_FRACTION * width if self.ds_max is None else self.ds_max,
        }
        if self.max_steps is not None:
            steps["max_steps"] = self.max_steps
        return {**steps, **self.continuation_options}


def _make_options(options, knobs):
    """`SequenceOptions` from an options object and keyword overrides."""
    if options is None:
        options = SequenceOptions()
    elif not isinstance(options, SequenceOptions):
        raise InputError(
            f"options must be a SequenceOptions, got {type(options).__name__}"
        )

    names = {field.name for field in dataclasses.fields(SequenceOptions)}
    unknown = sorted(set(knobs) - names)
    if unknown:
        raise InputError(
            f"unknown option(s) {unknown} of bifurcation_sequence; the options "
            f"are {sorted(names)}"
        )
    return dataclasses.replace(options, **knobs)


def bifurcation_sequence(
    system, param, p_range, *, params=None, box=None, options=None, **knobs
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
    options : SequenceOptions, optional
        All settings; keywords override its fields.
    **knobs
        Fields of `SequenceOptions`: ``n_samples``, ``n_starts``,
        ``reverse_starts``, ``seed``,
        ``max_refine``, ``connections``, ``ds``, ``ds_max``, ``max_steps``,
        ``continuation_options``, ``manifold_options``,
        ``connection_options``, ``verbose``, ``progress``.

    Returns
    -------
    Sequence
        With ``status`` INTERRUPTED and what was computed when the run is
        interrupted (Ctrl-C); INCOMPLETE when some rest point could not be
        followed across the interval.

    Raises
    ------
    InputError
        For an unknown parameter or option, a bad range, box or setting.

    Notes
    -----
    The steps: a census of the rest points in the box (multi-start Newton
    with deflation) at `n_samples` values; continuation of each new rest
    point across the interval in both directions (Keller 1977) and branch
    switching at every branch point; more samples where a branch stops for
    no reason; events gathered from all branches, one per place; branches
    cut at the events into tracks (one rest point each, with an id);
    graphs of rest points at samples between events; bisection on where a
    saddle's unstable branch lands, then `bifurc.find_connection`, wherever
    that landing changes.

    Known shortcomings: isolated branches born and dying between two
    samples, and connections within 10% of an interval from a local event,
    are not found (raise `n_samples`); nor are rest points that the census
    misses at every sample where they exist (sources whose Newton basins
    are tiny, as in a diffusion landscape at small noise; raise `n_starts`,
    `reverse_starts` or `n_samples`); a point where several eigenvalues
    cross zero at once (forced by a symmetry) is not reported as an event:
    the tracks through it stop there and the status is INCOMPLETE, with
    the eigenvalues named in the message; connections are sought only from
    saddles with one-dimensional unstable manifolds; whether a Hopf point is
    sub- or supercritical is not decided, so every interval after the first
    one in sweep order is flagged as possibly holding a periodic orbit;
    edges end at sinks (an orbit passing a saddle is followed on), so a
    cycle of saddle connections shows as undecided ends, not as a cycle.
    """
    index = system.param_index(param)
    start, stop = _check_range(p_range)
    settings = _make_options(options, knobs)
    base = system.parameter_vector(params)
    base[index] = start

    box = resolve_box(system, box)
    run = _Run(system, system.parameters[index], base, (start, stop), box, settings)
    with run.progress_bar():
        try:
            run.compute()
        except KeyboardInterrupt:
            run.status = Status.INTERRUPTED
            logger.warning("bifurcation_sequence interrupted; partial result kept")
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


@dataclasses.dataclass
class _Local:
    """A local event gathered from the branches (working data)."""

    label: str
    kind: str
    value: float
    x: np.ndarray
    converged: bool
    precision: float
    index: int = -1

    @classmethod
    def from_point(cls, point):
        precision = getattr(point, "precision", None)
        return cls(
            point.label, point.kind, float(point.value), np.asarray(point.x, float),
            bool(point.converged), float(np.nan if precision is None else precision),
            int(getattr(point, "index", -1)),
        )  # fmt: skip

    def absorb(self, other):
        """Merge `other` (a special point or event at the same place) into this one.

        A BP names the event over an LP (a pitchfork's side branch turns at
        the BP) and a classified BP over an unclassified one; a converged
        location replaces one that is not.
        """
        if _naming_rank(other) > _naming_rank(self):
            self.label, self.kind = other.label, other.kind
        if _location_rank(other) > _location_rank(self):
            self.value, self.x = float(other.value), np.asarray(other.x, float)
            self.converged, self.precision = bool(other.converged), other.precision


def _naming_rank(event):
    return (event.label == "BP", event.kind not in ("branch-point", ""))


def _location_rank(event):
    # Among converged points the first met wins: branches are kept in the
    # order they were found, and a switched branch starts at its parent's
    # branch point, whose location on the parent is the primary one.
    return bool(event.converged)


@dataclasses.dataclass
class _Global:
    """A located saddle-to-saddle connection (working data)."""

    value: float
    x: np.ndarray
    source: int
    target: int
    precision: float
    converged: bool = False
    located_by: str = "bisection"
    old: tuple = ()
    new: tuple = ()
    bracket: tuple = ()


class _Piece:
    """Part of a branch between two cuts, oriented by increasing parameter."""

    def __init__(self, reason, event):
        self.p, self.x = [], []
        self.ends = [reason, None]
        self.events = [event, None]

    def add(self, p, x):
        self.p.append(float(p))
        self.x.append(np.asarray(x, float))
        self.last = (self.p[-1], self.x[-1])

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

    def restart(self, reason, event):
        """A new piece starting where this one ended (before its orientation)."""
        piece = _Piece(reason, event)
        piece.add(*self.last)
        return piece

    def track(self, track_id, rest_point):
        """The `Track` of this piece, typed by `rest_point` (its midpoint)."""
        return Track(
            id=track_id, kind=rest_point.kind, morse_index=rest_point.morse_index,
            p=_frozen(self.p), x=_frozen(self.x), ends=tuple(self.ends),
            events=tuple(self.events), complex_pair=rest_point.complex_pair,
        )  # fmt: skip

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
    """The working state of one `bifurcation_sequence` run (not returned).

    Internally everything runs by increasing parameter, whatever the sweep
    direction, so that both directions compute the same events; the sweep
    only orders the ids, the rows and the words before and after.
    """

    def __init__(self, system, param, base, p_range, box, settings):
        self.system, self.param, self.base = system, param, base
        self.index = system.param_index(param)
        self.p_range = p_range
        self.lo, self.hi = sorted(p_range)
        self.sweep = 1 if p_range[1] > p_range[0] else -1

        self.box, self.width = box, box[1] - box[0]
        self.settings = settings
        self.continuation = settings.continuation_keywords(self.hi - self.lo)
        self.tiny = TINY_FRACTION * (self.hi - self.lo)
        names = system.parameters
        self.params = {
            names[i]: float(base[i]) for i in range(system.m) if i != self.index
        }

        self.branches, self.origins, self.switched = [], [], []
        self.samples, self.unexplained, self.notes = [], [], []
        self.events = self.tracks = None
        self.globals, self.graphs, self.failed_censuses = [], [], []
        self.status, self.bar = Status.SUCCESS, None

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

    # Progress ------------------------------------------------------------

    @contextlib.contextmanager
    def progress_bar(self):
        """Show a progress bar (tqdm) for the duration of the run when asked."""
        if self.settings.progress:
            with contextlib.suppress(ImportError):
                from tqdm.auto import tqdm

                total = self.settings.n_samples
                self.bar = tqdm(total=total, desc="sequence", leave=False)
        try:
            yield
        finally:
            if self.bar is not None:
                self.bar.close()

    def _stage(self, text):
        loud = self.settings.verbose or self.settings.progress
        logger.log(logging.INFO if loud else logging.DEBUG, "%s: %s", self.param, text)
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
            seed = _census_seed(self.settings.seed, len(self.samples))
            self.samples.append(value)
            known = self.points_at(value)
            census = find_rest_points(
                self.system, self.p_at(value), box=self.box, known=known, seed=seed,
                n_starts=self.settings.n_starts,
                reverse_starts=self.settings.reverse_starts,
            )  # fmt: skip
            if not census.status.success:
                self.failed_censuses.append((value, census))

            # A sample that falls on a bifurcation finds a non-hyperbolic
            # rest point; the neighbouring samples start its branches.
            for rest_point in census:
                if rest_point.hyperbolic and not self._known(rest_point.x, value):
                    self._continue_from(rest_point.x, value)
            self._advance(f"census at {self.param} = {value:.6g}: {len(census)} new")

    def points_at(self, value):
        """Rest points on the branches at `value`, corrected by Newton, in the box."""
        p = self.p_at(value)
        points = []
        for branch in self.branches:
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
        """Continue the rest point `x` at `value` both ways, then switch at its BPs."""
        from ._continuation import continuation

        span = (self.lo, self.hi)
        try:
            branch = continuation(
                self.system, x, self.param, span, p0=value, params=self.params,
                direction="both", **self.continuation,
            )  # fmt: skip
        except BifurcError as exc:
            self.unexplained.append(value)
            self.notes.append(f"no branch from {_state(x)} at {value:.6g}: {exc}")
            return

        if branch.status is Status.INTERRUPTED:
            self.branches.append(branch)
            self.origins.append(None)
            raise KeyboardInterrupt
        if len(branch) >= 2 and not self._duplicate(branch):
            self._add(branch)

    def _duplicate(self, branch):
        """Whether a few interior points of `branch` all lie on known branches."""
        count = len(branch)
        picks = sorted({count // 4, count // 2, (3 * count) // 4})
        return all(self._known(branch.x[i], float(branch.p[i])) for i in picks)

    def _add(self, branch):
        """Keep `branch`, note where it stops early, and switch at its BPs."""
        queue = [(branch, None)]
        while queue:
            current, origin = queue.pop(0)
            self.branches.append(current)
            self.origins.append(origin)
            self._note_stops(current)

            parent = len(self.branches) - 1
            for j, point in enumerate(current.special_points):
                new = self._switch(current, point)
                if new is not None:
                    queue.append((new, (parent, j)))

    def _switch(self, branch, point):
        """The new branch through BP `point` of `branch`, or None."""
        from ._switching import switch_branch

        if not self._switchable(point):
            return None
        self.switched.append(point)
        try:
            new = switch_branch(branch, point, **self.continuation)
        except BifurcError as exc:
            self.notes.append(f"no switch at BP {point.value:.10g}: {exc}")
            return None

        if new.status is Status.INTERRUPTED:
            raise KeyboardInterrupt
        return new if len(new) >= 2 and not self._duplicate(new) else None

    def _switchable(self, point):
        """A classified BP inside the region, not switched at before."""
        if point.label != "BP" or "directions" not in point.data:
            return False
        if not point.converged or not self._inside(point):
            return False
        return not any(_same_event(point, other, self) for other in self.switched)

    def _inside(self, point):
        inside = self.lo + self.tiny < point.value < self.hi - self.tiny
        return inside and in_box(np.asarray(point.x, float), self.box)

    def _at_range_end(self, value):
        tol = RANGE_END_FRACTION * (self.hi - self.lo)
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
            if samples[j] - samples[j - 1] > MIN_SAMPLE_FRACTION * (self.hi - self.lo):
                extra.add(float(0.5 * (samples[j - 1] + samples[j])))
        self.unexplained = []
        return sorted(extra - set(self.samples))

    # Local events --------------------------------------------------------

    def _local_events(self):
        """LP, BP and H points of all branches, one per event, by increasing value."""
        events = []
        for branch in self.branches:
            for item in self._branch_events(branch):
                match = next((e for e in events if _same_event(item, e, self)), None)
                if match is None:
                    events.append(item)
                else:
                    match.absorb(item)
        return sorted(events, key=lambda event: (event.value, event.label))

    def _branch_events(self, branch):
        """The special points of one branch; an LP and a BP on one step are one."""
        events = []
        for point in branch.special_points:
            if point.label not in _LOCAL_LABELS or not self._inside(point):
                continue

            labels = {"LP", "BP"}
            same_step = (
                e for e in events
                if e.index == point.index and {e.label, point.label} <= labels
            )  # fmt: skip
            match = next(same_step, None)
            if match is None:
                events.append(_Local.from_point(point))
            else:
                match.absorb(point)
        return events

    # Tracks --------------------------------------------------------------

    def _build_tracks(self):
        """Cut every branch at events, merge the pieces of one curve, number them."""
        pieces = [piece for branch in self.branches for piece in self._pieces(branch)]
        pieces.sort(key=lambda piece: (piece.lo, piece.hi, tuple(piece.x[0])))
        while self._merge_once(pieces):
            pass
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
                current = current.restart("turn", None)
            current.add(p, x)

            if event is not None and len(current.p) > 1:
                pieces.append(current.close("event", event))
                current = current.restart("event", event)

        if current is not None:
            end = "range" if self._at_range_end(float(branch.p[-1])) else "stop"
            pieces.append(current.close(end))
        return [piece for piece in pieces if piece.hi - piece.lo > self.tiny]

    def _branch_items(self, branch):
        """Branch points and the events on the branch, in arclength order."""
        items = [(float(i), branch.p[i], branch.x[i], None) for i in range(len(branch))]
        for k, event in enumerate(self.events):
            position = self._position(branch, event)
            if position is not None:
                items.append((position, event.value, event.x, k))
        items.sort(key=lambda item: item[0])
        return [(float(p), x, k) for _, p, x, k in items]

    def _position(self, branch, event):
        """Where `event` lies along `branch` (a fractional index), or None."""
        for point in branch.special_points:
            if _same_event(point, event, self):
                return point.index + 0.5

        scale = np.append(self.width, self.hi - self.lo)
        curve = np.column_stack([branch.x, branch.p]) / scale
        target = np.append(event.x, event.value) / scale
        chords = np.diff(curve, axis=0)
        if not len(chords):
            return None

        lengths = np.maximum(np.einsum("ij,ij->i", chords, chords), 1e-300)
        t = np.clip(np.einsum("ij,ij->i", target - curve[:-1], chords) / lengths, 0, 1)
        gaps = np.linalg.norm(curve[:-1] + t[:, None] * chords - target, axis=1)
        j = int(np.argmin(gaps / np.sqrt(lengths)))
        return j + float(t[j]) if gaps[j] <= CHORD_TOL * np.sqrt(lengths[j]) else None

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
        """Whether Newton from both guesses at `value` reaches one rest point."""
        if np.max(np.abs(guess_a - guess_b) / self.width) > SAME_CURVE_GUESS_TOL:
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
            p = self.p_at(value)
            x, _ = newton(self.system, piece.guess(value), p, scale=self.width)
            rest_point = classify_rest_point(self.system, x, p)

            first = piece.lo - self.lo if self.sweep > 0 else self.hi - piece.hi
            start = round(first / (self.hi - self.lo) / SORT_RESOLUTION)
            state = tuple(np.round((x - self.box[0]) / self.width / SORT_RESOLUTION))
            keyed.append(((start, rest_point.morse_index, state), piece, rest_point))

        keyed.sort(key=lambda item: item[0])
        return tuple(
            piece.track(i, rest_point) for i, (_, piece, rest_point) in enumerate(keyed)
        )

    # Graphs and global events --------------------------------------------

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
        options = self.settings.manifold_options
        graph = rest_point_graph(
            self.system, p, rest_points=nodes, box=self.box, param=self.param,
            sources=sources, manifold_options=options,
        )  # fmt: skip

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

                previous, last[node.id] = last.get(node.id), graph
                if previous is None or previous.ids != graph.ids:
                    continue
                if previous.targets(node.id) != landing:
                    for het in self._locate(node.id, previous, graph):
                        self._record(het)

    def _record(self, het):
        """Keep a located HET unless the same connection is already known.

        Two HETs are the same when they join the same two saddles at the same
        value: by symmetry one saddle can connect to two others at once.
        """
        tol = EVENT_P_TOL * (self.hi - self.lo) + het.precision
        for other in self.globals:
            same_pair = (other.source, other.target) == (het.source, het.target)
            if same_pair and abs(other.value - het.value) <= tol + other.precision:
                return
        self.globals.append(het)

    def _locate(self, saddle, before, after):
        """The HETs where the landing of `saddle`'s branches changes.

        Bisection on the landing narrows each change to a small bracket; each
        branch that changes there names the saddle it passes closest, and
        the connection solver locates the connection to each such saddle.
        """
        width = HET_BRACKET_FRACTION * (after.value - before.value)
        hets = []
        for low, high in self._brackets(saddle, before, after, width):
            changes = _changed_branches(saddle, low, high)
            if not changes:
                self.notes.append(
                    f"saddle {saddle}'s branch lands elsewhere between "
                    f"{before.value:.10g} and {after.value:.10g}, but passes near "
                    "no other saddle"
                )
            for target, (old, new, orbit) in sorted(changes.items()):
                het = self._connect(saddle, target, low, high, orbit)
                het.old, het.new = old, new
                het.bracket = (before.value, after.value)
                hets.append(het)
        return hets

    def _brackets(self, saddle, low, high, width):
        """Graph pairs narrower than `width` around each change of landing.

        Two changes between `low` and `high` (the landing at the midpoint is
        neither that of `low` nor that of `high`) are bracketed apart.
        """
        while high.value - low.value > width:
            middle = self._graph(0.5 * (low.value + high.value), sources=(saddle,))
            landing = middle.targets(saddle)
            if middle.ids != low.ids or "undecided" in landing:
                break

            if landing == low.targets(saddle):
                low = middle
            elif landing == high.targets(saddle):
                high = middle
            else:
                return self._brackets(saddle, low, middle, width) + self._brackets(
                    saddle, middle, high, width
                )
        return [(low, high)]

    def _connect(self, saddle, target, low, high, orbit):
        """The connection from `saddle` to `target` with the connection solver.

        Falls back on the bisection bracket (not converged) when the solver
        fails, with the reason in the notes; `orbit` (the branch that changes
        landing) then gives the event's point.
        """
        from ._connections import find_connection

        bracket = (low.value, high.value)
        het = _Global(
            value=0.5 * sum(bracket), x=_orbit_midpoint(orbit), source=saddle,
            target=target, precision=0.5 * (bracket[1] - bracket[0]),
        )  # fmt: skip
        params = {**self.params, self.param: low.value}
        source_x, target_x = low.node(saddle).x, low.node(target).x
        try:
            connection = find_connection(
                self.system, source_x, target_x, self.param, bracket=bracket,
                params=params, source_id=saddle, target_id=target,
                **self.settings.connection_options,
            )  # fmt: skip
        except BifurcError as exc:
            self.notes.append(f"connection {saddle} -> {target} not refined: {exc}")
            return het

        if not connection.status.success:
            self.notes.append(f"connection {saddle} -> {target}: {connection.message}")
            return het
        het.value, het.x = float(connection.value), _orbit_midpoint(connection.x)
        het.converged, het.precision = True, float(connection.error)
        het.located_by = "connection"
        return het

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
            system=self.system, param=self.param, p_range=self.p_range,
            p=_frozen(self.base), box=self.box, events=tuple(events),
            intervals=self._intervals(events), tracks=self.tracks,
            diagram=self._diagram(),
            samples=tuple(sorted(set(self.samples), key=lambda v: order * v)),
            graphs=tuple(sorted(self.graphs, key=lambda g: order * g.value)),
            hopf_value=self.hopf_value(), status=status, message=message,
            manifold_options=self.settings.manifold_options,
        )  # fmt: skip

    def _diagram(self):
        from ._results import Diagram

        failed = [branch.status for branch in self.branches if not branch.success]
        status = failed[0] if failed else Status.SUCCESS
        message = f"{len(self.branches)} branches, {len(failed)} ended early"
        return Diagram(tuple(self.branches), tuple(self.origins), status, message)

    def _status(self, events):
        """The run's status and message (with the first few notes)."""
        counts = Counter(event.label for event in events)
        found = [f"{counts[k]} {k}" for k in (*_LOCAL_LABELS, "HET") if counts[k]]
        message = (
            f"{_count(len(events), 'event')} ({', '.join(found) or 'none'}) as "
            f"{self.param} goes from {self.p_range[0]:.6g} to {self.p_range[1]:.6g}; "
            f"{_count(len(self.tracks), 'rest-point track')}"
        )
        if self.status is Status.INTERRUPTED:
            return self.status, f"{Status.INTERRUPTED.text}: {message}"
        if self.failed_censuses and not self.tracks:
            value, census = self.failed_censuses[0]
            return census.status, (
                f"{message}; no rest point found: at {self.param} = {value:.6g} "
                f"{census.message}"
            )

        groups = self._stop_groups()
        if groups:
            explained = "; ".join(self._explain_stops(group) for group in groups[:3])
            more = f" (and at {len(groups) - 3} more values)" if len(groups) > 3 else ""
            return Status.INCOMPLETE, (
                f"{message}; rest points stop being followed inside the interval"
                f"{more}: {explained}"
            )

        notes = self.notes + self._census_notes()
        return Status.SUCCESS, message + "".join(f"; {note}" for note in notes[:3])

    def _census_notes(self):
        if not self.failed_censuses:
            return []
        value, census = self.failed_censuses[0]
        return [
            f"the census failed at {len(self.failed_censuses)} of "
            f"{len(self.samples)} samples (at {self.param} = {value:.6g}: "
            f"{census.message})"
        ]

    def _stop_groups(self):
        """Track ends where following stopped, as ``(value, x, track)``, by value.

        Ends closer than `STOP_GROUP_FRACTION` of the interval form a group:
        the two sides of one point where continuation cannot pass.
        """
        ends = [
            (float(t.p[end]), t.x[end], t)
            for t in self.tracks
            for side, end in ((0, 0), (1, -1))
            if t.ends[side] == "stop"
        ]
        ends.sort(key=lambda item: (self.sweep * item[0], item[2].id))

        groups = []
        tol = STOP_GROUP_FRACTION * (self.hi - self.lo)
        for item in ends:
            if groups and abs(item[0] - groups[-1][-1][0]) <= tol:
                groups[-1].append(item)
            else:
                groups.append([item])
        return groups

    def _explain_stops(self, group):
        """Where, why and what to change, for one group of stopped track ends."""
        parts = []
        for value, x, track in group:
            why = self._why_stopped(value, x)
            parts.append(
                f"{track.label} {track.id} at {self.param} = {value:.10g}{why}"
            )

        value, x, _ = group[0]
        advice = _stop_advice(
            self.system, x, self.p_at(value), self._stop_status(group)
        )
        return f"{' and '.join(parts)}: {advice}"

    def _branch_end(self, value, x):
        """The branch that ends at ``(value, x)`` and which end, or None."""
        for branch in self.branches:
            for end in (0, -1):
                near = abs(float(branch.p[end]) - value) <= self.tiny
                if near and self._listed(np.asarray(branch.x[end]), [x]):
                    return branch, end
        return None

    def _why_stopped(self, value, x):
        """`` (status: message)`` of the branch's run that ended at `x`, or ``""``."""
        found = self._branch_end(value, x)
        if found is None:
            return ""
        branch, end = found
        status = _end_status(branch, end).code
        direction = "backward" if end == 0 else "forward"
        match = re.search(
            rf"{direction}: (.*?)(?=; (?:forward|backward): |$)", branch.message
        )
        text = match.group(1) if match else branch.message
        return f" ({status}: {text})"

    def _stop_status(self, group):
        """The status that ended the first branch of `group` found, or None."""
        for value, x, _ in group:
            found = self._branch_end(value, x)
            if found is not None:
                return _end_status(*found)
        return None

    # Rows ----------------------------------------------------------------

    def _rows(self):
        """Events as table rows, in sweep order.

        Events at one parameter value (within their precision, e.g. a
        symmetric pair of folds) are ordered by label, then by the ids
        involved, not by the last digits of their located values.
        """
        rows = [self._local_row(k, event) for k, event in enumerate(self.events)]
        rows += [self._global_row(het) for het in self.globals]
        rows.sort(key=lambda row: self.sweep * row["value"])

        rank = {label: i for i, label in enumerate((*_LOCAL_LABELS, "HET"))}
        ordered = []
        for group in self._simultaneous(rows):
            ordered += sorted(
                group, key=lambda r: (rank[r["label"]], r["source"], r["target"])
            )
        return [Event(order=i, **row) for i, row in enumerate(ordered)]

    def _simultaneous(self, rows):
        """Rows (sorted by value) in groups of events at one parameter value."""
        groups = []
        for row in rows:
            tol = EVENT_P_TOL * (self.hi - self.lo) + 2 * _zero_if_nan(row["precision"])
            if groups and abs(row["value"] - groups[-1][-1]["value"]) <= tol:
                groups[-1].append(row)
            else:
                groups.append([row])
        return groups

    def _local_row(self, k, event):
        before, after = self._linked(k, "before"), self._linked(k, "after")
        reason = "imaginary pair" if event.label == "H" else "zero eigenvalue"

        return dict(
            kind=event.kind, label=event.label, param=self.param, value=event.value,
            x=_frozen(event.x), **_ends(before, after), **self._counts(event.value),
            description=_describe_local(event.label, before, after),
            **self._bracketing(event.value), converged=event.converged,
            precision=event.precision, located_by="continuation",
            fails=f"hyperbolicity ({reason})",
        )  # fmt: skip

    def _global_row(self, het):
        old, new = (het.old, het.new) if self.sweep > 0 else (het.new, het.old)
        tracks = {track.id: track for track in self.tracks}
        source, target = tracks[het.source], tracks[het.target]
        p_before, p_after = het.bracket[:: self.sweep]

        return dict(
            kind="heteroclinic", label="HET", param=self.param, value=het.value,
            x=_frozen(het.x), **_ends([source], [target]), **self._counts(het.value),
            description=_describe_global(source, target, old, new, tracks),
            p_before=p_before, p_after=p_after, converged=het.converged,
            precision=het.precision, located_by=het.located_by,
            fails="no saddle-to-saddle connection",
        )  # fmt: skip

    def _linked(self, k, side):
        """Tracks ending at local event `k` before it, or starting after it (sweep)."""
        end = 1 if (side == "before") == (self.sweep > 0) else 0
        linked = [track for track in self.tracks if track.events[end] == k]
        return sorted(linked, key=lambda track: track.id)

    def _counts(self, value):
        """Rest points and sinks just before and just after `value` (sweep order)."""
        cuts = {self.lo, self.hi, *(e.value for e in self.events)}
        cuts |= {g.value for g in self.globals}
        cuts |= {float(end) for t in self.tracks for end in (t.p[0], t.p[-1])}
        below = max((c for c in cuts if c < value - self.tiny), default=value)
        above = min((c for c in cuts if c > value + self.tiny), default=value)

        low = self._census_at(0.5 * (below + value))
        high = self._census_at(0.5 * (value + above))
        before, after = (low, high) if self.sweep > 0 else (high, low)
        return {
            "n_rest_before": before[0], "n_rest_after": after[0],
            "n_sinks_before": before[1], "n_sinks_after": after[1],
        }  # fmt: skip

    def _covering(self, value):
        return [track for track in self.tracks if track.covers(value)]

    def _census_at(self, value):
        covering = self._covering(value)
        return len(covering), sum(track.kind == "sink" for track in covering)

    def _bracketing(self, value):
        below = max((v for v in self.samples if v < value), default=self.lo)
        above = min((v for v in self.samples if v > value), default=self.hi)
        before, after = (below, above) if self.sweep > 0 else (above, below)
        return {"p_before": before, "p_after": after}

    def _intervals(self, events):
        """The flow between consecutive events, with the Morse-Smale verdict.

        Events at one value (within their precision) end one interval.
        """
        rows = [{"value": e.value, "precision": e.precision} for e in events]
        cuts = [group[0]["value"] for group in self._simultaneous(rows)]
        cuts = sorted({self.lo, self.hi, *cuts})
        pairs = list(zip(cuts[:-1], cuts[1:], strict=True))[:: self.sweep]
        intervals = []
        for low, high in pairs:
            middle = 0.5 * (low + high)
            graphs = [
                g
                for g in self.graphs
                if low < g.value < high and not _at_event(g.value, events, self)
            ]
            failures = self._failures(self._covering(middle), graphs, middle)
            n_rest, n_sinks = self._census_at(middle)

            start, end = (low, high)[:: self.sweep]
            gradient_like = not any(gradient for _, gradient in failures)
            reason = "; ".join(text for text, _ in failures)
            intervals.append(
                Interval(
                    start, end, n_rest, n_sinks, not failures, gradient_like, reason
                )
            )
        return tuple(intervals)

    def _failures(self, tracks, graphs, middle):
        """The Morse-Smale conditions failing in an interval.

        Returns a list of ``(sentence, not_gradient_like)`` pairs.
        """
        failures = []
        if any(track.kind == "non-hyperbolic" for track in tracks):
            failures.append(("a rest point is not hyperbolic", False))
        hopf = self.hopf_value()
        if hopf is not None and (middle - hopf) * self.sweep > 0:
            text = f"after the Hopf point at {self.param} = {hopf:.10g} a periodic"
            failures.append((f"{text} orbit may exist; graph not followed", True))

        if any(graph.cycles for graph in graphs):
            failures.append(("the graph has a cycle", True))
        if any(edge.end == "undecided" for graph in graphs for edge in graph.edges):
            text = "an unstable branch reaches no rest point (a periodic orbit"
            failures.append((f"{text} or very slow dynamics)", True))
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
    """Whether two special points (or events) are one event.

    An LP and a BP at one place are one event (a pitchfork's side branch
    turns at the BP).  The tolerances widen with the located precision: a
    pitchfork located to dp in the parameter is located to about sqrt(dp)
    in the state.
    """
    labels = {a.label, b.label}
    if len(labels) > 1 and labels != {"LP", "BP"}:
        return False

    width = run.hi - run.lo
    precision = max(_zero_if_nan(a.precision), _zero_if_nan(b.precision))
    p_tol = max(EVENT_P_TOL * width, 2 * precision)
    x_tol = max(EVENT_X_TOL, PITCHFORK_X_FACTOR * math.sqrt(precision / width))
    gap = np.abs(np.asarray(a.x, float) - np.asarray(b.x, float)) / run.width
    return bool(abs(float(a.value) - float(b.value)) <= p_tol and np.max(gap) <= x_tol)


def _stop_advice(system, x, p, status):
    """What happened where a rest point stopped being followed, and what to change.

    The eigenvalues of f_x there tell a degenerate point (several near
    zero), an unlocated fold or branch point (one) and a regular point,
    where the step control (`status`) is to blame.
    """
    from ._continuation import stability

    try:
        eigenvalues = np.asarray(stability(system, x, p)[1], dtype=complex)
    except BifurcError:
        eigenvalues = np.zeros(0, complex)
    scale = max(1.0, float(np.max(np.abs(eigenvalues), initial=0.0)))
    zero = int(np.sum(np.abs(eigenvalues) <= NEAR_ZERO_EIGENVALUE_RTOL * scale))

    if zero >= 2:
        return (
            f"f_x has {zero} eigenvalues near zero there, a degenerate point (e.g. "
            "a double zero eigenvalue forced by a symmetry) that continuation "
            "cannot pass, so no event is reported there; the rest points on "
            "either side are followed: break the symmetry (perturb a parameter "
            "or the data) or end the range before this point (smaller steps "
            "will not help)"
        )
    if zero == 1:
        return (
            "f_x has an eigenvalue near zero there, a fold or branch point that "
            "was not located: lower ds_max and ds_min, or raise max_refine"
        )
    return _STOP_ADVICE.get(status, "raise max_steps, lower ds_max or raise max_refine")


# What to change when a branch stopped at a regular point, by the status of
# the run that ended there.
_STOP_ADVICE = {
    Status.MAX_STEPS: "raise max_steps (or ds_max) or raise max_refine",
    Status.STEP_TOO_SMALL: "lower ds_min or ds_max, or raise max_refine",
    Status.NON_FINITE: (
        "f is not finite beyond this point: shrink the box or the range to "
        "where the model is defined"
    ),
    Status.USER_ERROR: (
        "f raises beyond this point: shrink the box or the range to where the "
        "model is defined"
    ),
}


def _end_status(branch, end):
    """The status of the run that ended `branch` at `end` (0 or -1)."""
    point = branch.special_points[end] if branch.special_points else None
    if point is None or point.label != "EP":
        return branch.status
    code = point.data.get("status")
    return next((status for status in Status if status.code == code), branch.status)


def _census_seed(seed, number):
    """The seed of the census at sample `number` of a run seeded `seed`.

    Each sample gets its own starts, so that a rest point the starts of one
    sample miss is likely found at the next one and continued from there.
    """
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _at_event(value, events, run):
    """Whether `value` is that of one of `events` (a graph there shows the event)."""
    return any(
        abs(value - event.value)
        <= EVENT_P_TOL * (run.hi - run.lo) + 2 * _zero_if_nan(event.precision)
        for event in events
    )


def _zero_if_nan(value):
    value = float(np.nan if value is None else value)
    return value if np.isfinite(value) else 0.0


def _frozen(array):
    array = np.array(array, dtype=float)
    array.setflags(write=False)
    return array


def _state(x):
    return "(" + ", ".join(f"{v:.6g}" for v in np.asarray(x)[:6]) + ")"


def _nodes_at(system, tracks, p, value, box):
    """The rest points of the tracks covering `value`, with the tracks' ids.

    At an event the tracks that meet there give one (non-hyperbolic) node,
    with the smallest of their ids.
    """
    width = box[1] - box[0]
    nodes = []
    for track in tracks:
        if not track.covers(value):
            continue
        guess = track.guess(value)
        x, converged = newton(system, guess, p, scale=width)
        x = x if converged else guess

        if any(np.max(np.abs(x - node.x) / width) <= SAME_POINT_TOL for node in nodes):
            continue
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


def _ends(before, after):
    """The source and target columns of a row from the tracks involved."""
    return {
        "source": tuple(t.id for t in before), "target": tuple(t.id for t in after),
        "morse_source": tuple(t.morse_index for t in before),
        "morse_target": tuple(t.morse_index for t in after),
    }  # fmt: skip


def _changed_branches(saddle, low, high):
    """The saddles that the branches of `saddle` changing landing pass closest.

    Returns a dict from each such saddle (of the same Morse index) to the
    landings of the branches passing it in `low` and in `high` (sorted
    tuples) and the orbit of one of them (from `low` when there is one).
    """
    old, new = low.targets(saddle), high.targets(saddle)
    gone, come = Counter(old) - Counter(new), Counter(new) - Counter(old)
    index = low.node(saddle).morse_index
    candidates = [
        node
        for node in low.nodes
        if node.id != saddle and node.morse_index == index and node.hyperbolic
    ]
    if not candidates:
        return {}

    passes = {}
    for side, graph, moved in ((0, low, gone), (1, high, come)):
        for edge in graph.edges:
            if edge.source != saddle or edge.key[1] not in moved or edge.orbit is None:
                continue
            target = min(candidates, key=lambda node: _distance(edge.orbit, node.x))
            entry = passes.setdefault(target.id, ([], [], []))
            entry[side].append(edge.key[1])
            entry[2].append(edge.orbit)

    return {
        target: (_sorted_keys(old), _sorted_keys(new), orbits[0])
        for target, (old, new, orbits) in passes.items()
    }


def _distance(orbit, x):
    """Smallest distance from the points of `orbit` (shape (T, n)) to `x`."""
    return float(np.min(np.linalg.norm(np.asarray(orbit) - x, axis=1)))


def _sorted_keys(keys):
    return tuple(sorted(keys, key=str))


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
    lines += _render_events(sequence) if sequence.events else ["no events"]

    lines += ["", "intervals:"]
    for item in sequence.intervals:
        verdict = (
            "Morse-Smale" if item.morse_smale else f"not Morse-Smale: {item.reason}"
        )
        counts = f"{_count(item.n_rest, 'rest point')}, {_count(item.n_sinks, 'sink')}"
        lines.append(f"  {item.start:.6g} .. {item.end:.6g}: {counts}; {verdict}")
    return "\n".join(lines)


def _render_events(sequence):
    """The event rows as aligned text (the state shown up to three variables)."""
    variables = sequence.system.variables if sequence.system.n <= 3 else ()
    state = "".join(f" {v[:11]:>11}" for v in variables)
    lines = [
        f"{'order':>5} {'label':<5} {sequence.param[:14]:>14}{state}  {'rest':<7} "
        f"{'sinks':<7} description"
    ]

    for event in sequence.events:
        state = "".join(f" {v:>11.5g}" for v in np.asarray(event.x)[: len(variables)])
        rest = f"{event.n_rest_before}->{event.n_rest_after}"
        sinks = f"{event.n_sinks_before}->{event.n_sinks_after}"
        flag = "" if event.converged else "  [not converged]"
        lines.append(
            f"{event.order:>5} {event.label:<5} {event.value:>14.10g}{state}  "
            f"{rest:<7} {sinks:<7} {event.description}{flag}"
        )
    return lines
