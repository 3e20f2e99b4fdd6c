"""Figures for papers: bifurcation diagrams, phase portraits, sequence timelines.

Every function draws with matplotlib, imported only when a function is
called, and returns the Axes (or the Figure) so that it can be adjusted
before `save_figure` writes it as PNG, PDF or SVG.

The drawing conventions are those of the continuation literature (Doedel's
AUTO notes; Kuznetsov, "Elements of Applied Bifurcation Theory"): stable
parts of a branch solid, unstable parts dashed, special points marked with
their labels (LP fold, BP branch point, H Hopf, HET heteroclinic), and in
phase portraits sinks filled, sources open and saddles as crosses.

Labels of special points are placed greedily: each label takes the first
of a few positions around its point that overlaps neither an earlier label
nor the drawn curves, so the labels of a figure do not overlap as long as
the figure is not resized afterwards.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ._errors import InputError
from ._io import atomic_path

__all__ = [
    "STYLE",
    "place_labels",
    "plot_diagram",
    "plot_phase_portrait",
    "plot_sequence_timeline",
    "save_figure",
    "style",
]

logger = logging.getLogger(__name__)

# Publication defaults: fonts readable in a single-column figure, TrueType
# fonts embedded in PDF and text kept as text in SVG (both stay editable),
# and a fixed salt for SVG element ids so the same figure gives the same file.
STYLE = {
    "font.size": 10,
    "axes.labelsize": 11,
    "axes.titlesize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.6,
    "lines.markersize": 6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.figsize": (5.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "bifurc",
}

# Font size of secondary text: tick labels of panels, node ids, event labels.
SMALL_FONT = STYLE["font.size"] - 1

# File formats written by `save_figure`, by suffix.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

# Line styles by stability: stable, unstable, not computed (n_unstable -1).
STABLE_STYLE, UNSTABLE_STYLE, UNKNOWN_STYLE = "-", "--", ":"

# Markers of special points and the labels drawn by default (EP, the end
# points of a run, are not events of the flow).
MARKERS = {"LP": "o", "BP": "s", "H": "D", "HET": "*", "EP": "|", "UZ": "^"}
DEFAULT_SPECIAL = ("LP", "BP", "H", "HET")

# Colours by Morse index (number of unstable directions): sinks blue, index-1
# saddles orange, then red and purple; higher indices reuse the last.
MORSE_COLORS = ("#1f5fa8", "#e07b00", "#c0392b", "#7d3c98", "#4d4d4d")

# Colours of successive branches (colour-blind safe, Okabe and Ito 2008).
BRANCH_COLORS = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#000000",
)

# Label placement, in points: gap between a point and its label, the width
# of a character and the height of a line relative to the font size (upper
# bounds for the capital letters of the labels, so estimated boxes contain
# the drawn ones), and the radius kept clear around each marker.
LABEL_GAP = 3.0
CHAR_WIDTH = 0.75
LINE_HEIGHT = 1.25
MARKER_CLEARANCE = 5.0

# Penalties of a label position: overlapping another label is never
# acceptable when an alternative exists, leaving the axes rarely; each curve
# vertex under the label costs one.
OVERLAP_PENALTY = 1e6
OUTSIDE_PENALTY = 1e4

# A label nearer to another point than to its own would be read wrongly;
# worse than a label reaching a little beyond the axes.
MISLEADING_PENALTY = 1e5

# Each step down the list of candidate positions (farther from the point)
# costs as much as this many covered curve vertices: a label stays next to
# its point unless a curve really runs through it.
DISTANCE_PENALTY = 3.0

# Phase portraits: grid points per side for energy levels and the vector
# field, number of energy levels, and the fraction of the view added around
# the rest points when no box is known.
GRID_POINTS = 120
ENERGY_LEVELS = 14
VIEW_MARGIN = 0.25

# Graph panels of a timeline show the search box grown by this fraction.
PANEL_MARGIN = 0.12

# Intervals shorter than this fraction of the swept range lie between events
# at one value (symmetric copies of one event) and get no panel.
EMPTY_INTERVAL = 1e-9

# Trajectories stop when they leave the view grown by this many widths.
ESCAPE_WIDTHS = 2.0

# Phase portraits whose view is the system's box add this fraction of its
# width on each side, so that rest points on its faces show whole.
BOX_MARGIN = 0.05

# Parameter values below this size are shown as 0 in titles (a located
# symmetric event sits at 1e-60, say, rather than at exactly zero).
TITLE_ZERO = 1e-12

# Keyword arguments of the artists, so that each drawing call fits a line.
_SPECIAL_MARKER = {"color": "black", "markerfacecolor": "white", "markersize": 5.5}
_HET_LINE = {"color": "#555555", "linestyle": "-.", "linewidth": 0.9, "zorder": 1}
_CONTOURS = {"colors": "#b8b8b8", "linestyles": "solid", "linewidths": 0.6}
_STREAM = {"color": "#c9c9c9", "linewidth": 0.6, "arrowsize": 0.8, "zorder": 0}
_TRAJECTORY = {"color": "#5a5a5a", "linewidth": 0.9, "zorder": 2}
_CONNECTION = {"color": "#b2182b", "linewidth": 2.2, "zorder": 3}
_ARROW = {
    "arrowstyle": "-|>",
    "lw": 0.9,
    "mutation_scale": 11,
    "shrinkA": 0,
    "shrinkB": 0,
}
_STUB = {"arrowstyle": "-|>", "color": "#9a9a9a", "linestyle": ":", "lw": 0.9}
_GRAPH_ARROW = {
    "arrowstyle": "-|>",
    "mutation_scale": 10,
    "lw": 1.0,
    "shrinkA": 6,
    "shrinkB": 6,
}
_SOLVER = {"method": "LSODA", "rtol": 1e-7, "atol": 1e-9}

# Edge colours: an orbit that reaches a rest point, and one that does not.
EDGE_COLOR, LOOSE_EDGE_COLOR = "#2f7d32", "#9a9a9a"

# Rest point markers by type, (marker, filled): sinks filled, sources open,
# saddles crosses, non-hyperbolic points open diamonds.
REST_MARKERS = {
    "sink": ("o", True),
    "source": ("o", False),
    "saddle": ("X", True),
    "non-hyperbolic": ("D", False),
}


def style():
    """A context manager applying `STYLE` (``with bifurc.plotting.style(): ...``)."""
    import matplotlib as mpl

    return mpl.rc_context(STYLE)


# ----------------------------------------------------------------------
# Bifurcation diagram


def plot_diagram(
    result,
    measure=None,
    ax=None,
    *,
    color_by="branch",
    special=DEFAULT_SPECIAL,
    annotate=True,
    legend=None,
    names=None,
):
    """Draw a bifurcation diagram: a state measure against the parameter.

    Parameters
    ----------
    result : Branch, Diagram, Sequence or sequence of Branch
        What to draw.  For a `Sequence` every branch computed is drawn, the
        local events come from its table and each HET is a vertical line.
    measure : str or callable, optional
        The quantity on the vertical axis: a state variable's name,
        ``"norm"`` (Euclidean norm of x), ``"max"`` (largest entry of x,
        e.g. for discretised PDEs) or a function ``x -> float`` of the state
        x, shape (n,).  Default: the variable of a one-variable system, else
        ``"norm"``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.
    color_by : {"branch", "morse"}
        Colour each branch differently, or colour by Morse index (number of
        unstable eigenvalues).  Line style always shows stability: solid
        stable, dashed unstable, dotted not computed.
    special : sequence of str
        Labels of special points to mark (``"EP"`` adds the end points).
    annotate : bool
        Write each marked point's label beside it.
    legend : bool, optional
        Draw a legend (default: when there is more than one branch or more
        than one line style).
    names : sequence of str, optional
        Legend names of the branches (default ``"branch 0"``, ...).

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Where the stability changes at a located special point the point itself
    joins the two parts; elsewhere the part before reaches the next branch
    point.  Each line carries the gid ``"branch-<k>"`` (markers
    ``"special-<label>"``), so its data can be read back from the Axes.
    A sequence swept downwards is drawn with the parameter axis inverted, so
    that the sweep reads from left to right.
    """
    branches, points, hets, sweep = _diagram_parts(result)
    if color_by not in ("branch", "morse"):
        raise InputError(f"color_by must be 'branch' or 'morse', got {color_by!r}")
    if not branches:
        raise InputError("plot_diagram: nothing to draw (no branch with points)")
    values, ylabel = _measure(branches[0].system, measure)

    with style():
        ax = _axes(ax)
        for k, branch in enumerate(branches):
            name = names[k] if names is not None else f"branch {k}"
            _draw_branch(ax, branch, values, k, name, color_by)

        items = _draw_special(ax, points, values, special)
        items += _draw_hets(ax, hets, special)
        ax.set_xlabel(branches[0].param)
        ax.set_ylabel(ylabel)
        _finish_diagram(ax, branches, color_by, legend, sweep)
        if annotate:
            place_labels(ax, items)
    return ax


def _diagram_parts(result):
    """Branches, special points, HET values and the sweep direction of `result`."""
    from ._results import Branch, Diagram

    if isinstance(result, Branch):
        return _nonempty([result]), _located(result.special_points), [], 1
    if isinstance(result, Diagram):
        return _nonempty(result.branches), list(result.special_points), [], 1

    if hasattr(result, "events") and hasattr(result, "branches"):
        local = [e for e in result.events if e.label != "HET"]
        hets = [e.value for e in result.events if e.label == "HET"]
        return _nonempty(result.branches), local, hets, result.sweep
    if isinstance(result, list | tuple) and all(isinstance(b, Branch) for b in result):
        points = [sp for b in result for sp in _located(b.special_points)]
        return _nonempty(result), _distinct(points), [], 1

    raise InputError(
        "plot_diagram needs a Branch, a Diagram, a Sequence or a list of "
        f"branches, got {type(result).__name__}"
    )


def _nonempty(branches):
    return [b for b in branches if len(b)]


def _located(points):
    """The special points, end points last (their labels yield to the others)."""
    return sorted(points, key=lambda sp: sp.label == "EP")


def _distinct(points):
    """Special points with the same event met on two branches listed once."""
    unique = []
    for point in points:
        scale = 1.0 + abs(point.value) + np.linalg.norm(point.x)
        same = [
            abs(u.value - point.value) + np.linalg.norm(u.x - point.x) <= 1e-7 * scale
            for u in unique
            if u.label == point.label
        ]
        if not any(same):
            unique.append(point)
    return unique


def _measure(system, measure):
    """The measure as a function of states, shape (N, n) -> (N,), and its name."""
    if measure is None:
        measure = system.variables[0] if system.n == 1 else "norm"
    if callable(measure):
        name = getattr(measure, "__name__", "measure")
        name = "measure" if name == "<lambda>" else name
        return (lambda xs: np.array([float(measure(x)) for x in xs])), name

    if isinstance(measure, str) and measure in system.variables:
        j = system.variables.index(measure)
        return (lambda xs: xs[:, j]), measure
    if measure == "norm":
        return (lambda xs: np.linalg.norm(xs, axis=1)), r"$\Vert x \Vert$"
    if measure == "max":
        return (lambda xs: np.max(xs, axis=1)), r"$\max_i\, x_i$"

    raise InputError(
        f"measure must be a variable name {list(system.variables)[:6]}, 'norm', "
        f"'max' or a function of the state, got {measure!r}"
    )


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _draw_branch(ax, branch, values, k, name, color_by):
    """One line per run of equal stability, joined at the special points."""
    ys = values(np.asarray(branch.x).reshape(len(branch), -1))
    joins = _stability_joins(branch, values)
    color = BRANCH_COLORS[k % len(BRANCH_COLORS)]

    for start, stop, count in _runs(branch.n_unstable):
        px, py = list(branch.p[start:stop]), list(ys[start:stop])
        if stop < len(branch):
            px.append(joins[stop][0])
            py.append(joins[stop][1])
        if start > 0 and joins[start][2]:
            px.insert(0, joins[start][0])
            py.insert(0, joins[start][1])

        line_color = _morse_color(count) if color_by == "morse" else color
        label = name if start == 0 else "_nolegend_"
        ax.plot(
            px, py, _line_style(count), color=line_color, gid=f"branch-{k}", label=label
        )


def _runs(n_unstable):
    """``(start, stop, count)`` for each run of equal `n_unstable` values."""
    counts = np.asarray(n_unstable, dtype=int)
    cuts = [0, *(np.flatnonzero(np.diff(counts)) + 1).tolist(), counts.size]
    return [(a, b, int(counts[a])) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _stability_joins(branch, values):
    """For each point i where a run starts: ``(p, y, at_special_point)``.

    The join is the located special point between points i-1 and i when there
    is one, else point i itself (drawn as the end of the run before).
    """
    xs = np.asarray(branch.x).reshape(len(branch), -1)
    ys = values(xs)
    joins = {i: (float(branch.p[i]), float(ys[i]), False) for i in range(len(branch))}

    for sp in branch.special_points:
        if sp.label in ("LP", "BP", "H") and 0 <= sp.index < len(branch) - 1:
            y = float(values(np.asarray(sp.x).reshape(1, -1))[0])
            joins[sp.index + 1] = (float(sp.value), y, True)
    return joins


def _line_style(count):
    if count < 0:
        return UNKNOWN_STYLE
    return STABLE_STYLE if count == 0 else UNSTABLE_STYLE


def _morse_color(index):
    if index < 0:
        return "#9a9a9a"
    return MORSE_COLORS[min(index, len(MORSE_COLORS) - 1)]


def _draw_special(ax, points, values, special):
    """Mark the special points; return the label items for `place_labels`."""
    items = []
    for point in points:
        if point.label not in special:
            continue
        y = float(values(np.asarray(point.x).reshape(1, -1))[0])
        marker = MARKERS.get(point.label, "o")
        gid = f"special-{point.label}"
        ax.plot([point.value], [y], marker, zorder=4, gid=gid, **_SPECIAL_MARKER)
        items.append((float(point.value), y, point.label))
    return items


def _draw_hets(ax, hets, special):
    """Vertical lines at the HET values; labels at the top of the axes."""
    if "HET" not in special or not hets:
        return []
    ax.autoscale_view()
    top = ax.get_ylim()[1]
    for value in hets:
        ax.axvline(value, gid="special-HET", **_HET_LINE)
    return [(float(v), top, "HET") for v in hets]


def _finish_diagram(ax, branches, color_by, legend, sweep):
    """Legend of branches and line styles; sweep direction left to right."""
    counts = sorted(set(np.concatenate([b.n_unstable for b in branches]).tolist()))
    handles = []
    if color_by == "branch" and len(branches) > 1:
        handles += _branch_handles(ax)
    if color_by == "morse":
        handles += [_morse_handle(index) for index in counts]
    else:
        styles = sorted({_line_style(c) for c in counts})
        handles += [_style_handle(s) for s in styles] if len(styles) > 1 else []

    if legend is None:
        legend = len(handles) > 1
    if legend and handles:
        ax.legend(handles=handles, loc="best")
    if sweep < 0 and not ax.xaxis_inverted():
        ax.invert_xaxis()


def _branch_handles(ax):
    """Solid legend lines in each branch's colour (its first line has the name)."""
    from matplotlib.lines import Line2D

    lines = [
        line for line in ax.get_lines() if str(line.get_gid()).startswith("branch-")
    ]
    named = [line for line in lines if not line.get_label().startswith("_")]
    return [Line2D([], [], color=ln.get_color(), label=ln.get_label()) for ln in named]


def _morse_handle(index):
    from matplotlib.lines import Line2D

    label = "not computed" if index < 0 else f"Morse index {index}"
    color, linestyle = _morse_color(index), _line_style(index)
    return Line2D([], [], color=color, linestyle=linestyle, label=label)


def _style_handle(linestyle):
    from matplotlib.lines import Line2D

    names = {STABLE_STYLE: "stable", UNSTABLE_STYLE: "unstable"}
    label = names.get(linestyle, "stability not computed")
    return Line2D([], [], color="#333333", linestyle=linestyle, label=label)


# ----------------------------------------------------------------------
# Labels without overlaps


def place_labels(ax, items, fontsize=None, avoid_curves=True):
    """Write labels beside points so that they overlap neither each other nor curves.

    Parameters
    ----------
    ax : matplotlib Axes
        Its limits should be final: positions are chosen in display space.
    items : sequence of (x, y, text)
        Points in data coordinates and their labels.  Points drawn at the
        same place (within a marker's radius) share one label, their texts
        joined by ``/``.
    fontsize : float, optional
        Default: ``STYLE["font.size"]``.
    avoid_curves : bool
        Also avoid the vertices of the lines already drawn.

    Returns
    -------
    list of matplotlib.text.Annotation
        One per place, each with gid ``"label"``.

    Notes
    -----
    Each label takes the best of a few positions around its point: no
    overlap with another label or marker, inside the axes, few curve
    vertices covered, nearer to its own point than to any other, and as
    close as possible.  A greedy choice in the order of `items`; labels stay
    apart as long as the figure is not resized afterwards.
    """
    if not items:
        return []
    fontsize = fontsize or STYLE["font.size"]
    ax.autoscale_view()
    scale = ax.figure.dpi / 72.0
    pixels = ax.transData.transform([(x, y) for x, y, _ in items])
    items = _merged(items, pixels, MARKER_CLEARANCE * scale)
    anchors = ax.transData.transform([(x, y) for x, y, _ in items])

    clear = (-MARKER_CLEARANCE, -MARKER_CLEARANCE)
    side = 2 * MARKER_CLEARANCE
    taken = [_box(a, clear, side, side, scale) for a in anchors]
    scene = {
        "frame": ax.get_window_extent(),
        "vertices": _curve_pixels(ax) if avoid_curves else np.empty((0, 2)),
        "anchors": anchors,
    }

    texts = []
    for k, (x, y, text) in enumerate(items):
        width, height = CHAR_WIDTH * fontsize * len(text), LINE_HEIGHT * fontsize
        offsets = _candidate_offsets(width, height)
        boxes = [_box(anchors[k], o, width, height, scale) for o in offsets]
        scores = [
            _score(box, k, taken, scene) + DISTANCE_PENALTY * rank
            for rank, box in enumerate(boxes)
        ]
        best = int(np.argmin(scores))
        taken.append(boxes[best])
        texts.append(_annotation(ax, text, (x, y), offsets[best], fontsize))
    return texts


def _annotation(ax, text, xy, offset, fontsize):
    options = {"textcoords": "offset points", "ha": "left", "va": "bottom"}
    label = ax.annotate(
        text, xy, xytext=offset, fontsize=fontsize, gid="label", **options
    )
    label.set_in_layout(False)  # labels must not move the axes they were placed in
    return label


def _merged(items, anchors, radius):
    """Items drawn within `radius` pixels of an earlier one join its label."""
    kept, texts, where = [], [], []
    for (x, y, text), anchor in zip(items, anchors, strict=True):
        near = [k for k, a in enumerate(where) if np.hypot(*(anchor - a)) <= radius]
        if near:
            if text not in texts[near[0]]:
                texts[near[0]].append(text)
            continue
        kept.append((x, y))
        texts.append([text])
        where.append(anchor)
    return [(x, y, "/".join(t)) for (x, y), t in zip(kept, texts, strict=True)]


def _candidate_offsets(width, height):
    """Lower-left corners (points) around a point: the four diagonals, then farther."""
    g = LABEL_GAP + MARKER_CLEARANCE
    near = [(g, g), (g, -g - height), (-g - width, g), (-g - width, -g - height)]
    side = [(g, g + height), (g, -g - 2 * height), (-g - width, g + height)]
    above = [(-width / 2, g + k * height) for k in range(1, 4)]
    below = [(-width / 2, -g - (k + 1) * height) for k in range(1, 4)]
    return near + side + [v for pair in zip(above, below, strict=True) for v in pair]


def _box(anchor, offset, width, height, scale):
    x0 = anchor[0] + offset[0] * scale
    y0 = anchor[1] + offset[1] * scale
    return (x0, y0, x0 + width * scale, y0 + height * scale)


def _score(box, k, taken, scene):
    """Penalty of a label box for item `k` (lower is better)."""
    overlaps = sum(_overlap(box, other) for other in taken)
    frame = scene["frame"]
    inside = frame.x0 <= box[0] and box[2] <= frame.x1
    inside = inside and frame.y0 <= box[1] and box[3] <= frame.y1

    vertices = scene["vertices"]
    in_x = (vertices[:, 0] >= box[0]) & (vertices[:, 0] <= box[2])
    in_y = (vertices[:, 1] >= box[1]) & (vertices[:, 1] <= box[3])
    covered = int(np.count_nonzero(in_x & in_y))

    centre = np.array([box[0] + box[2], box[1] + box[3]]) / 2
    distances = np.hypot(*(scene["anchors"] - centre).T)
    misleading = bool(np.any(np.delete(distances, k) < distances[k]))
    penalty = OVERLAP_PENALTY * overlaps + OUTSIDE_PENALTY * (not inside)
    return penalty + MISLEADING_PENALTY * misleading + covered


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _curve_pixels(ax):
    """Display coordinates of the lines' vertices, densified along each segment."""
    chunks = []
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy) < 2 or line.get_transform() != ax.transData:
            continue
        pixels = ax.transData.transform(xy)
        steps = np.linspace(0.0, 1.0, 6)[:-1, None, None]
        chunks.append((pixels[:-1] + steps * np.diff(pixels, axis=0)).reshape(-1, 2))
        chunks.append(pixels[-1:])
    return np.vstack(chunks) if chunks else np.empty((0, 2))


# ----------------------------------------------------------------------
# Phase portrait


def plot_phase_portrait(
    system,
    p=None,
    *,
    params=None,
    ax=None,
    rest_points=None,
    graph=None,
    trajectories=(),
    t_max=20.0,
    connections=(),
    energy=True,
    vector_field=False,
    variables=(0, 1),
    xlim=None,
    ylim=None,
    annotate=None,
    legend=True,
):
    """Draw the phase portrait of a flow at one parameter value (2-D, or a projection).

    Parameters
    ----------
    system : System
    p : array_like, shape (m,), optional
        Full parameter vector (default: the system's defaults).
    params : dict, optional
        Parameter values overriding `p` by name.
    ax : matplotlib Axes, optional
    rest_points : Census, sequence of RestPoint or of ndarray (n,), optional
        Rest points to mark by type.  Default: those of `graph`, or found in
        the view by `bifurc.find_rest_points` when no graph is given; pass
        ``()`` for none.
    graph : RestPointGraph, optional
        Its edges (orbits leaving the saddles) are drawn with arrows.
    trajectories : sequence of array_like, shape (n,)
        Initial states of orbits integrated forward for time `t_max`.
    t_max : float
    connections : sequence
        Connecting orbits to highlight: `Connection` results (their ``x``),
        `ManifoldBranch` results (``orbit``) or arrays, shape (T, n).
    energy : bool or int
        Draw level sets of ``system.energy`` (this many levels if an int).
    vector_field : bool
        Draw stream lines of f.
    variables : pair of int or str
        The two variables spanning the plane (a projection when n > 2).
    xlim, ylim : pair of float, optional
        The view (default: the system's box, else around the rest points).
    annotate : bool, optional
        Write the ids of a graph's rest points (default: when `graph` given).
    legend : bool

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Energy levels and stream lines need the whole state in the plane: they
    are drawn for two-variable systems only, not for projections.
    """
    from ._landscape import classify_rest_point

    p = _parameter_vector(system, p, params)
    plane = [_variable_index(system, v) for v in variables]
    nodes = _rest_points(system, p, rest_points, graph, plane, xlim, ylim)
    nodes = [
        r if hasattr(r, "kind") else classify_rest_point(system, r, p) for r in nodes
    ]
    view = _view(system, nodes, plane, xlim, ylim)

    with style():
        ax = _axes(ax)
        if system.n == 2 and energy and system.energy is not None:
            _draw_energy(ax, system, p, view, energy)
        if system.n == 2 and vector_field:
            _draw_stream(ax, system, p, view)

        _draw_trajectories(ax, system, p, trajectories, t_max, plane, view)
        if graph is not None:
            _draw_edges(ax, graph, plane, {n.id: n for n in graph.nodes})
        _draw_connections(ax, connections, plane)
        _draw_rest_points(ax, nodes, plane, legend)
        _label_plane(ax, system, plane, view, p)

        if annotate or (annotate is None and graph is not None):
            place_labels(ax, [(*r.x[plane], str(r.id)) for r in nodes if r.id >= 0])
    return ax


def _parameter_vector(system, p, params):
    p = np.array(system.defaults if p is None else p, dtype=float).reshape(-1)
    if p.shape != (system.m,):
        raise InputError(
            f"p must be the full parameter vector of length {system.m} "
            f"({list(system.parameters)}), got shape {p.shape}"
        )
    for name, value in (params or {}).items():
        p[system.param_index(name)] = float(value)
    return p


def _variable_index(system, variable):
    if isinstance(variable, str):
        return system.variable_index(variable)
    index = int(variable)
    if not 0 <= index < system.n:
        raise InputError(
            f"variables: index {variable!r} out of range for {system.n} variables"
        )
    return index


def _rest_points(system, p, rest_points, graph, plane, xlim, ylim):
    """The rest points to draw (RestPoint objects or states)."""
    if rest_points is not None:
        return list(getattr(rest_points, "rest_points", rest_points))
    if graph is not None:
        return list(graph.nodes)

    from ._landscape import find_rest_points

    box = system.box
    if system.n == 2 and xlim is not None and ylim is not None:
        box = tuple(np.array([xlim[i], ylim[i]])[np.argsort(plane)] for i in (0, 1))
    return list(find_rest_points(system, p, box=box).rest_points)


def _view(system, nodes, plane, xlim, ylim):
    """``((x0, x1), (y0, y1))``: given limits, else the box, else around the points."""
    limits = [xlim, ylim]
    for axis, index in enumerate(plane):
        if limits[axis] is not None:
            continue
        if system.box is not None:
            lo, hi = float(system.box[0][index]), float(system.box[1][index])
            pad = BOX_MARGIN * (hi - lo)
        else:
            coords = [float(r.x[index]) for r in nodes] or [0.0]
            lo, hi = min(coords), max(coords)
            pad = max(VIEW_MARGIN * (hi - lo), 1.0)
        limits[axis] = (lo - pad, hi + pad)
    return tuple(tuple(float(v) for v in lim) for lim in limits)


def _grid_states(system, view):
    """A grid over the view, and the states on it, shape (G, 2)."""
    gx, gy = np.meshgrid(
        np.linspace(*view[0], GRID_POINTS), np.linspace(*view[1], GRID_POINTS)
    )
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()])


def _draw_energy(ax, system, p, view, levels):
    """Level sets of the energy, spaced evenly in rank so every well shows."""
    gx, gy, states = _grid_states(system, view)
    values = _batch_energy(system, states, p).reshape(gx.shape)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return

    count = ENERGY_LEVELS if levels is True else int(levels)
    marks = np.unique(np.quantile(finite, np.linspace(0.01, 0.95, count)))
    if marks.size > 1:
        ax.contour(gx, gy, values, levels=marks, zorder=0, **_CONTOURS)


def _batch_energy(system, states, p):
    """The energy at many states: one vectorised call when it is exact, else a loop."""
    try:
        values = np.asarray(system.energy(states.T, p), dtype=float)
    except Exception:  # a per-point energy may reject a batch in any way
        values = None

    probe = np.linspace(0, states.shape[0] - 1, 7).astype(int)
    exact = [system.energy(states[i], p) for i in probe]
    usable = values is not None and values.shape == (states.shape[0],)
    if usable and np.allclose(values[probe], exact, rtol=1e-12, atol=1e-12):
        return values
    return np.array([system.energy(x, p) for x in states], dtype=float)


def _draw_stream(ax, system, p, view):
    gx, gy, states = _grid_states(system, view)
    field = np.array([system.f(x, p) for x in states])
    u, v = (field[:, j].reshape(gx.shape) for j in (0, 1))
    ax.streamplot(gx, gy, u, v, density=1.0, **_STREAM)


def _draw_trajectories(ax, system, p, starts, t_max, plane, view):
    from scipy.integrate import solve_ivp

    event = _escape_event(view, plane)
    for start in starts:
        x0 = system.check_state(start, "trajectories")
        span = (0.0, float(t_max))
        solution = solve_ivp(
            lambda t, x: system.f(x, p), span, x0, events=event, **_SOLVER
        )

        orbit = solution.y.T[:, plane]
        ax.plot(orbit[:, 0], orbit[:, 1], gid="trajectory", **_TRAJECTORY)
        ax.plot(orbit[:1, 0], orbit[:1, 1], ".", color=_TRAJECTORY["color"], zorder=2)
        _arrow(ax, orbit, _TRAJECTORY["color"])


def _escape_event(view, plane):
    """Terminal event: the orbit left the view grown by `ESCAPE_WIDTHS` widths."""
    lo = np.array([v[0] for v in view])
    hi = np.array([v[1] for v in view])
    width = hi - lo

    def escaped(t, x):
        z = x[plane]
        return ESCAPE_WIDTHS - float(np.max(np.maximum(lo - z, z - hi) / width))

    escaped.terminal = True
    return escaped


def _arrow(ax, orbit, color, where=0.5):
    """An arrow head on a curve, shape (T, 2), at a fraction of its length."""
    if len(orbit) < 2:
        return
    length = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(orbit, axis=0).T))])
    if length[-1] == 0:
        return
    i = int(np.searchsorted(length, where * length[-1]))
    i = min(max(i, 1), len(orbit) - 1)
    ax.annotate(
        "", xy=orbit[i], xytext=orbit[i - 1], arrowprops={"color": color, **_ARROW}
    )


def _draw_edges(ax, graph, plane, nodes):
    """The orbits of the graph's edges, with an arrow each."""
    for edge in graph.edges:
        if edge.orbit is not None and len(edge.orbit) > 1:
            orbit = np.asarray(edge.orbit)[:, plane]
        elif edge.target is not None:
            orbit = np.array([nodes[edge.source].x, nodes[edge.target].x])[:, plane]
        else:
            continue

        landed = edge.end == "rest point"
        color = EDGE_COLOR if landed else LOOSE_EDGE_COLOR
        linestyle = "-" if landed else ":"
        ax.plot(*orbit.T, linestyle, color=color, linewidth=1.3, gid="edge", zorder=3)
        _arrow(ax, orbit, color)


def _draw_connections(ax, connections, plane):
    for k, connection in enumerate(connections):
        orbit = _orbit_of(connection)[:, plane]
        label = "connecting orbit" if k == 0 else "_nolegend_"
        ax.plot(orbit[:, 0], orbit[:, 1], gid="connection", label=label, **_CONNECTION)
        _arrow(ax, orbit, _CONNECTION["color"])


def _orbit_of(connection):
    """The points of an orbit, shape (T, n), from a result or an array."""
    for name in ("orbit_x", "orbit", "x"):
        orbit = getattr(connection, name, None)
        if orbit is not None and not callable(orbit):
            return np.atleast_2d(np.asarray(orbit, dtype=float))

    orbit = np.asarray(connection, dtype=float)
    if orbit.ndim != 2:
        raise InputError(
            "connections: each must be a Connection, a ManifoldBranch or an "
            f"array of shape (T, n), got {type(connection).__name__}"
        )
    return orbit


def _draw_rest_points(ax, nodes, plane, legend):
    """Rest points by type and Morse index, one legend entry per type."""
    shown = set()
    for node in sorted(nodes, key=lambda r: r.morse_index):
        label = node.label if node.label not in shown else "_nolegend_"
        shown.add(node.label)
        _rest_marker(ax, node, node.x[plane[0]], node.x[plane[1]], 7, label=label)

    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=STYLE["legend.fontsize"])


def _rest_marker(ax, node, x, y, size, label="_nolegend_"):
    marker, filled = REST_MARKERS.get(node.kind, ("o", True))
    color = _morse_color(node.morse_index)
    options = {"markersize": size, "markeredgewidth": 1.4, "zorder": 5, "label": label}
    options["markerfacecolor"] = color if filled else "white"
    ax.plot([x], [y], marker, color=color, gid=f"rest-{node.kind}", **options)


def _label_plane(ax, system, plane, view, p):
    ax.set_xlim(view[0])
    ax.set_ylim(view[1])
    ax.set_xlabel(system.variables[plane[0]])
    ax.set_ylabel(system.variables[plane[1]])
    if system.m:
        values = [0.0 if abs(v) < TITLE_ZERO else v for v in p]
        pairs = zip(system.parameters, values, strict=True)
        shown = ", ".join(f"{name} = {value:.4g}" for name, value in pairs)
        ax.set_title(shown if len(shown) < 60 else shown[:57] + "...")


# ----------------------------------------------------------------------
# Sequence timeline


def plot_sequence_timeline(sequence, *, layout=None, max_panels=8, figsize=None):
    """Draw a sequence: the events along the parameter axis, and the graph per interval.

    Parameters
    ----------
    sequence : Sequence
        A result of `bifurc.bifurcation_sequence`.
    layout : {"state", "layered"}, optional
        Graph drawing: rest points at their states (first two variables),
        or in rows by Morse index (sinks at the bottom).  Default: "state"
        for two-variable systems, else "layered".
    max_panels : int
        At most this many interval panels; intervals are then chosen evenly.
    figsize : pair of float, optional

    Returns
    -------
    matplotlib.figure.Figure
        The top axes shows the events in sweep order, numbered as in the
        table (``1 LP``, ``2 HET``, ...), with the intervals lettered; below,
        one panel per interval with its graph of rest points, titled with
        the interval and its counts (``*`` marks an interval that is not
        Morse-Smale).  Intervals of zero length, between symmetric copies of
        one event, get no panel.
    """
    width = abs(sequence.p_range[1] - sequence.p_range[0])
    intervals = [
        item
        for item in sequence.intervals
        if abs(item.end - item.start) > EMPTY_INTERVAL * width
    ]
    if not intervals:
        raise InputError("plot_sequence_timeline: the sequence has no interval")
    layout = layout or ("state" if sequence.system.n == 2 else "layered")
    if layout not in ("state", "layered"):
        raise InputError(f"layout must be 'state' or 'layered', got {layout!r}")
    chosen = _chosen_panels(len(intervals), max_panels)

    with style():
        fig, top, panels = _timeline_figure(len(chosen), figsize)
        _draw_axis(top, sequence, intervals, chosen)
        ids = []
        for letter, (panel, k) in enumerate(zip(panels, chosen, strict=True)):
            graph = _interval_graph(sequence, intervals[k])
            ids.append(_draw_graph(panel, graph, layout, sequence))
            panel.set_title(_panel_title(letter, intervals[k]), fontsize=SMALL_FONT)

        # Labels go where the constrained layout has put the axes.
        fig.draw_without_rendering()
        for panel, items in zip(panels, ids, strict=True):
            place_labels(panel, items, fontsize=SMALL_FONT - 1)
        _label_axis(top, sequence, intervals, chosen)
    return fig


def _chosen_panels(count, max_panels):
    if max_panels < 1:
        raise InputError(f"max_panels must be at least 1, got {max_panels!r}")
    if count <= max_panels:
        return list(range(count))
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, max_panels)})


def _timeline_figure(n_panels, figsize):
    import matplotlib.pyplot as plt

    columns = min(n_panels, 4)
    rows = math.ceil(n_panels / columns)
    if figsize is None:
        figsize = (2.1 * max(columns, 3), 1.5 + 2.2 * rows)

    fig = plt.figure(figsize=figsize, layout="constrained")
    grid = fig.add_gridspec(1 + rows, columns, height_ratios=[0.8] + [2.0] * rows)
    top = fig.add_subplot(grid[0, :])
    panels = [
        fig.add_subplot(grid[1 + k // columns, k % columns]) for k in range(n_panels)
    ]
    return fig, top, panels


def _draw_axis(ax, sequence, intervals, chosen):
    """The parameter axis in sweep direction, shaded intervals and event ticks."""
    ax.set_xlim(*sorted(sequence.p_range))
    ax.set_ylim(0.0, 1.0)
    if sequence.sweep < 0:
        ax.invert_xaxis()
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    start, stop = sequence.p_range
    ax.set_xlabel(f"{sequence.param} (sweep {start:.4g} → {stop:.4g})")

    shades = ("#dfe8f3", "#f3e9df")
    for letter, k in enumerate(chosen):
        low, high = intervals[k].start, intervals[k].end
        ax.axvspan(low, high, ymax=0.3, color=shades[letter % 2], lw=0)
    for event in sequence.events:
        color = "#b2182b" if event.label == "HET" else "#222222"
        ax.axvline(event.value, ymin=0.0, ymax=0.45, color=color, lw=1.2)


def _label_axis(ax, sequence, intervals, chosen):
    """Interval letters in the shaded band, event labels above their ticks."""
    letters = [
        (0.5 * (intervals[k].start + intervals[k].end), _letter(j))
        for j, k in enumerate(chosen)
    ]
    _stagger(ax, letters, base=0.04, step=0.13, fontsize=SMALL_FONT)
    labels = [(e.value, f"{e.order + 1} {e.label}") for e in sequence.events]
    _stagger(ax, labels, base=0.5, step=0.16, fontsize=SMALL_FONT)


def _letter(k):
    return "abcdefghijklmnopqrstuvwxyz"[k % 26]


def _stagger(ax, labels, base, step, fontsize):
    """Centred labels on rows: each on the lowest row where it overlaps nothing."""
    scale = ax.figure.dpi / 72.0
    options = {"ha": "center", "va": "bottom", "fontsize": fontsize, "gid": "label"}
    row_ends = []
    for value, text in sorted(labels, key=lambda item: _pixel_x(ax, item[0])):
        centre = _pixel_x(ax, value)
        half = 0.5 * CHAR_WIDTH * fontsize * len(text) * scale
        free = [r for r, end in enumerate(row_ends) if centre - half > end]
        row = free[0] if free else len(row_ends)
        if row == len(row_ends):
            row_ends.append(-math.inf)
        row_ends[row] = centre + half + LABEL_GAP * scale

        where = ax.get_xaxis_transform()
        label = ax.text(value, base + row * step, text, transform=where, **options)
        label.set_in_layout(False)


def _pixel_x(ax, value):
    return float(ax.transData.transform((value, 0.0))[0])


def _interval_graph(sequence, interval):
    """The stored graph nearest the middle of `interval`, else one computed there."""
    lo, hi = sorted((interval.start, interval.end))
    middle = 0.5 * (lo + hi)
    inside = [g for g in sequence.graphs if lo < g.value < hi]
    if inside:
        return min(inside, key=lambda g: abs(g.value - middle))
    return sequence.graph_at(middle)


def _panel_title(letter, interval):
    rest = _plural(interval.n_rest, "rest point")
    sinks = _plural(interval.n_sinks, "sink")
    mark = "" if interval.morse_smale else " *"
    span = f"{interval.start:.3g} – {interval.end:.3g}"
    return f"({_letter(letter)}) {span}{mark}\n{rest}, {sinks}"


def _plural(count, noun):
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _draw_graph(ax, graph, layout, sequence):
    """Rest points and edges of one graph, at their states or in Morse rows.

    Returns the ``(x, y, id)`` items for `place_labels`.
    """
    nodes = {node.id: node for node in graph.nodes}
    if layout == "state":
        positions = {i: np.asarray(node.x[:2], float) for i, node in nodes.items()}
        _draw_state_edges(ax, graph, positions)
        _state_frame(ax, sequence.box)
    else:
        positions = _layered_positions(nodes)
        _draw_arrows(ax, graph, positions)
        _layered_frame(ax, nodes, positions)

    for node_id, node in nodes.items():
        _rest_marker(ax, node, *positions[node_id], 8)
    ax.tick_params(labelsize=SMALL_FONT - 1)
    if not graph.complete:
        options = {"ha": "center", "va": "bottom", "fontsize": SMALL_FONT - 1}
        note = "edges not followed"
        ax.text(0.5, 0.02, note, transform=ax.transAxes, color="#777777", **options)
    return [(*positions[i], str(i)) for i in nodes]


def _draw_state_edges(ax, graph, positions):
    for edge in graph.edges:
        if edge.orbit is not None and len(edge.orbit) > 1:
            orbit = np.asarray(edge.orbit)[:, :2]
        elif edge.target is not None:
            orbit = np.array([positions[edge.source], positions[edge.target]])
        else:
            continue
        color = EDGE_COLOR if edge.end == "rest point" else LOOSE_EDGE_COLOR
        ax.plot(orbit[:, 0], orbit[:, 1], color=color, lw=1.0, gid="edge")
        _arrow(ax, orbit, color)


def _state_frame(ax, box):
    lo, hi = box
    pad = PANEL_MARGIN * (hi - lo)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])


def _layered_positions(nodes):
    """Rows by Morse index; within a row, ordered by the state."""
    positions = {}
    for index in sorted({node.morse_index for node in nodes.values()}):
        row = [n for n in nodes.values() if n.morse_index == index]
        row.sort(key=lambda n: tuple(np.round(n.x, 9)))
        xs = np.arange(len(row)) - 0.5 * (len(row) - 1)
        for node, x in zip(row, xs, strict=True):
            positions[node.id] = np.array([x, float(index)])
    return positions


def _draw_arrows(ax, graph, positions):
    """Edges as curved arrows; an edge that ends nowhere as a short stub upwards."""
    from matplotlib.patches import FancyArrowPatch

    for edge in graph.edges:
        start = positions[edge.source]
        if edge.target is None:
            end = start + (0.25 * (-1) ** edge.branch, 0.35)
            ax.annotate("", xy=end, xytext=start, arrowprops=_STUB)
            continue

        bend = f"arc3,rad={0.25 if edge.branch % 2 == 0 else -0.25}"
        options = {"connectionstyle": bend, "color": EDGE_COLOR, **_GRAPH_ARROW}
        ax.add_patch(
            FancyArrowPatch(start, positions[edge.target], gid="edge", **options)
        )


def _layered_frame(ax, nodes, positions):
    xs = [pos[0] for pos in positions.values()] or [0.0]
    levels = sorted({node.morse_index for node in nodes.values()}) or [0]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(levels) - 0.5, max(levels) + 0.7)
    ax.set_yticks(levels)
    ax.set_xticks([])
    ax.set_ylabel("Morse index", fontsize=SMALL_FONT - 1)


# ----------------------------------------------------------------------
# Saving


def save_figure(figure, path, *, dpi=None, **options):
    """Write a figure to `path` atomically; the format follows the suffix.

    Parameters
    ----------
    figure : matplotlib Figure or Axes
    path : str or os.PathLike
        Ends in ``.png``, ``.pdf`` or ``.svg``.  Its folder must exist.
    dpi : float, optional
        Resolution of PNG files (default ``STYLE["savefig.dpi"]``).
    **options
        Further keywords of ``Figure.savefig``.

    Returns
    -------
    pathlib.Path
        The file written.  If saving fails, an existing file at `path` is
        left as it was and no partial file remains.

    Raises
    ------
    InputError
        For another suffix.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"path must end in one of {sorted(FORMATS)}, got {str(path)!r}"
        )
    figure = getattr(figure, "figure", figure)

    # No creation date, so the same figure gives the same PDF and SVG bytes.
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    options = {"dpi": dpi or STYLE["savefig.dpi"], "bbox_inches": "tight", **options}
    with style(), atomic_path(path) as tmp:
        figure.savefig(tmp, format=fmt, metadata=metadata, **options)
    logger.debug("figure written to %s", path)
    return path
