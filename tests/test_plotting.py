"""Figures: the plotted data is the computed data, files are written atomically."""

import itertools
import time
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402

import bifurc  # noqa: E402
import bifurc.models as bm  # noqa: E402
from bifurc import InputError, plotting  # noqa: E402
from bifurc._results import Branch, Diagram, SpecialPoint  # noqa: E402
from bifurc._status import Status  # noqa: E402

# First bytes of each file format.
MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _branch(system, p, x, n_unstable, special=()):
    """A Branch holding given points (the continuation is tested elsewhere)."""
    p = np.asarray(p, dtype=float)
    x = np.asarray(x, dtype=float).reshape(p.size, system.n)
    return Branch(
        system=system,
        param=system.parameters[0],
        param_index=0,
        p_fixed=np.array(system.defaults),
        x=x,
        p=p,
        s=np.arange(p.size, dtype=float),
        tangent=np.zeros((p.size, system.n + 1)),
        n_unstable=np.asarray(n_unstable, dtype=int),
        eigenvalues=[np.zeros(system.n)] * p.size,
        special_points=tuple(special),
        status=Status.REACHED_BOUND,
        message="reached the end of the parameter range",
    )


def _special(label, value, x, index, kind="saddle-node"):
    return SpecialPoint(
        label=label,
        kind=kind,
        param="p",
        value=value,
        x=np.atleast_1d(np.asarray(x, dtype=float)),
        index=index,
        tangent=np.zeros(2),
    )


def _pitchfork_diagram():
    """x' = p x - x^3: x = 0 (index 1 for p > 0) and x = +/-sqrt(p), BP at p = 0."""
    system = bm.pitchfork()
    p = np.linspace(-1.0, 1.0, 22)  # no sample at p = 0: the BP joins the parts
    bp = _special("BP", 0.0, 0.0, 10, kind="pitchfork")
    trivial = _branch(system, p, np.zeros_like(p), (p > 0).astype(int), [bp])
    q = np.linspace(1.0, 0.0, 15) ** 2
    values = np.concatenate([q, q[-2::-1]])
    signs = np.concatenate([-np.ones(q.size), np.ones(q.size - 1)])
    upper = _branch(system, values, signs * np.sqrt(values), np.zeros(values.size))
    return Diagram(
        branches=(trivial, upper),
        origins=(None, (0, 0)),
        status=Status.SUCCESS,
        message="",
    )


def _fold_branch():
    """x' = p - x^2 on its whole parabola p = x^2: one LP at the origin."""
    system = bm.fold()
    x = np.linspace(-1.0, 1.0, 21) + 0.05  # the LP lies between two points
    lp = _special("LP", 0.0, 0.0, 9)
    return _branch(system, x**2, x, (x < 0).astype(int), [lp])


def _lines(ax, gid):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def _vertices(lines):
    return np.vstack([line.get_xydata() for line in lines])


# ----------------------------------------------------------------------
# The diagram


def _assert_lines_hold_branch(ax, k, branch):
    """Lines of branch `k`: exactly its points, in order, styled by stability."""
    lines = _lines(ax, f"branch-{k}")
    specials = {(sp.value, float(sp.x[0])) for sp in branch.special_points}
    points = {
        (float(p), float(x)) for p, x in zip(branch.p, branch.x[:, 0], strict=True)
    }
    drawn = [tuple(v) for v in _vertices(lines)]
    # Every vertex is a branch point or a special point, bit for bit.
    assert set(drawn) <= points | specials

    kept = [v for v in drawn if v in points]
    unique = [v for i, v in enumerate(kept) if i == 0 or v != kept[i - 1]]
    assert_array_equal(np.array(unique), np.column_stack([branch.p, branch.x[:, 0]]))
    for i, point in enumerate(zip(branch.p, branch.x[:, 0], strict=True)):
        style = "-" if branch.n_unstable[i] == 0 else "--"
        assert any(
            point in map(tuple, line.get_xydata()) and line.get_linestyle() == style
            for line in lines
        )


@pytest.mark.parametrize("make", [_pitchfork_diagram, _fold_branch])
def test_diagram_lines_hold_exactly_the_branch_points(make):
    result = make()
    ax = plotting.plot_diagram(result)
    for k, branch in enumerate(getattr(result, "branches", (result,))):
        _assert_lines_hold_branch(ax, k, branch)


def test_diagram_of_a_computed_diagram_holds_its_data():
    diagram = bifurc.diagram(bm.pitchfork(), [0.0], "p", (-1.0, 1.0), p0=-1.0)
    assert len(diagram.branches) == 2
    ax = plotting.plot_diagram(diagram)
    for k, branch in enumerate(diagram.branches):
        _assert_lines_hold_branch(ax, k, branch)
    assert len(_lines(ax, "special-BP")) >= 1


def test_stability_change_is_joined_at_the_special_point():
    branch = _fold_branch()
    ax = plotting.plot_diagram(branch)
    unstable, stable = _lines(ax, "branch-0")
    assert unstable.get_linestyle() == "--" and stable.get_linestyle() == "-"
    assert_array_equal(unstable.get_xydata()[-1], [0.0, 0.0])
    assert_array_equal(stable.get_xydata()[0], [0.0, 0.0])
    marker = _lines(ax, "special-LP")[0]
    assert_array_equal(marker.get_xydata(), [[0.0, 0.0]])


def test_special_point_met_on_two_branches_is_marked_once():
    diagram = _pitchfork_diagram()
    bp = diagram.branches[0].special_points[0]
    twin = _branch(
        diagram.branches[1].system, [0.5, 0.0, 0.5], [-0.7, 0.0, 0.7], [0, 0, 0], [bp]
    )
    ax = plotting.plot_diagram([diagram.branches[0], twin])
    assert len(_lines(ax, "special-BP")) == 1


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("norm", lambda x: np.linalg.norm(x, axis=1)),
        ("max", lambda x: np.max(x, axis=1)),
        ("y", lambda x: x[:, 1]),
        (lambda x: x[0] * x[1] + 2.0, lambda x: x[:, 0] * x[:, 1] + 2.0),
    ],
)
def test_measure_is_applied_to_every_point(measure, expected):
    system = bm.two_well()
    p = np.linspace(0.0, 1.0, 9)
    x = np.column_stack([np.sqrt(p), 0.3 * p - 0.1])
    branch = _branch(system, p, x, np.zeros(9))
    ax = plotting.plot_diagram(branch, measure=measure)
    (line,) = _lines(ax, "branch-0")
    assert_array_equal(line.get_xdata(), p)
    assert_allclose(line.get_ydata(), expected(x), rtol=1e-15)


def test_morse_colouring_follows_the_unstable_count():
    branch = _fold_branch()
    ax = plotting.plot_diagram(branch, color_by="morse")
    for line in _lines(ax, "branch-0"):
        index = 0 if line.get_linestyle() == "-" else 1
        assert matplotlib.colors.same_color(
            line.get_color(), plotting.MORSE_COLORS[index]
        )
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Morse index 0", "Morse index 1"]


def test_several_branches_get_a_legend():
    ax = plotting.plot_diagram(_pitchfork_diagram(), names=["trivial", "pitchfork"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["trivial", "pitchfork"]
    assert "unstable" in labels


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"measure": "z"}, "measure must be a variable name"),
        ({"color_by": "colour"}, "color_by must be"),
    ],
)
def test_bad_diagram_options_are_named(kwargs, match):
    with pytest.raises(InputError, match=match):
        plotting.plot_diagram(_fold_branch(), **kwargs)


def test_diagram_rejects_other_objects():
    with pytest.raises(InputError, match="needs a Branch"):
        plotting.plot_diagram({"p": [1, 2]})


def _label_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [
        t.get_window_extent(renderer)
        for ax in fig.axes
        for t in ax.texts
        if t.get_gid() == "label"
    ]


def _overlapping(boxes):
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def test_labels_of_crowded_special_points_do_not_overlap():
    system = bm.fold()
    x = np.linspace(-1.0, 1.0, 41)
    # About ten pixels apart: closer than a label's size, farther than a marker.
    spots = [("LP", 0.0, 0.0), ("BP", 0.03, 0.04), ("H", 0.06, -0.04),
             ("LP", 0.045, 0.12), ("BP", 0.0, -0.1)]  # fmt: skip
    special = [_special(label, v, x0, 20) for label, v, x0 in spots]
    branch = _branch(system, x**2, x, np.zeros(41), special)
    ax = plotting.plot_diagram(branch)
    boxes = _label_boxes(ax.figure)
    assert len(boxes) == 5
    assert not _overlapping(boxes)


def test_points_at_one_place_share_a_label():
    system = bm.fold()
    x = np.linspace(-1.0, 1.0, 21)
    special = [_special("BP", 0.0, 0.0, 10), _special("LP", 1e-9, 1e-8, 10)]
    ax = plotting.plot_diagram(_branch(system, x**2, x, np.zeros(21), special))
    assert [t.get_text() for t in ax.texts] == ["BP/LP"]


def test_sequence_diagram_draws_het_lines_in_sweep_direction():
    diagram = _pitchfork_diagram()
    events = [
        SimpleNamespace(label="BP", value=0.0, x=np.zeros(1)),
        SimpleNamespace(label="HET", value=0.4, x=np.zeros(1)),
    ]
    sequence = SimpleNamespace(branches=diagram.branches, events=events, sweep=-1)
    ax = plotting.plot_diagram(sequence)
    (het,) = _lines(ax, "special-HET")
    assert_array_equal(het.get_xdata(), [0.4, 0.4])
    assert ax.xaxis_inverted()
    assert sorted(t.get_text() for t in ax.texts) == ["BP", "HET"]


def test_timeline_shows_events_in_order_and_a_graph_per_interval():
    # E = (x^2 - 1)^2 / 4 - tilt x: folds at tilt = -/+ 2 / (3 sqrt 3).
    sequence = bifurc.bifurcation_sequence(bm.double_well(), "tilt", (-0.5, 1.0))
    fig = plotting.plot_sequence_timeline(sequence)
    top, *panels = fig.axes
    assert len(panels) == len(sequence.intervals) == 3

    texts = [t.get_text() for t in top.texts]
    assert texts[:3] == ["a", "b", "c"] and texts[3:] == ["1 LP", "2 LP"]
    events = [line.get_xdata()[0] for line in top.get_lines()]
    assert_allclose(events, [-2 / np.sqrt(27), 2 / np.sqrt(27)], rtol=1e-9)
    sinks = [len(_lines(panel, "rest-sink")) for panel in panels]
    assert sinks == [interval.n_sinks for interval in sequence.intervals]
    assert not _overlapping(_label_boxes(fig))


# ----------------------------------------------------------------------
# Phase portrait


def test_phase_portrait_marks_the_rest_points_by_type():
    # E = x^4/4 - mu x^2/2 + y^2/2 at mu = 1: sinks (+/-1, 0), saddle (0, 0).
    ax = plotting.plot_phase_portrait(
        bm.two_well(), params={"mu": 1.0}, trajectories=[(0.1, 1.5)], t_max=40.0
    )
    sinks = sorted(_vertices(_lines(ax, "rest-sink")).tolist())
    assert_allclose(sinks, [[-1.0, 0.0], [1.0, 0.0]], atol=1e-10)
    assert_allclose(_vertices(_lines(ax, "rest-saddle")), [[0.0, 0.0]], atol=1e-10)
    (orbit,) = _lines(ax, "trajectory")
    assert_allclose(orbit.get_xydata()[-1], [1.0, 0.0], atol=1e-4)
    assert ax.collections, "the energy's level sets are drawn"


def test_phase_portrait_draws_given_orbits_projected():
    system = bm.modern_hopfield(np.eye(3), beta=4.0)
    orbit = np.column_stack([np.linspace(0, 1, 5), np.linspace(1, 0, 5), np.ones(5)])
    ax = plotting.plot_phase_portrait(
        system, rest_points=[], connections=[orbit], variables=("x2", "x0")
    )
    (line,) = _lines(ax, "connection")
    assert_array_equal(line.get_xydata(), orbit[:, [2, 0]])
    assert ax.get_xlabel() == "x2"


def test_phase_portrait_rejects_a_bad_variable():
    with pytest.raises(InputError, match="variables"):
        plotting.plot_phase_portrait(bm.two_well(), rest_points=[], variables=(0, 5))


# ----------------------------------------------------------------------
# Saving


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_save_figure_writes_each_format(tmp_path, suffix):
    ax = plotting.plot_diagram(_pitchfork_diagram())
    path = plotting.save_figure(ax.figure, tmp_path / f"diagram{suffix}")
    data = path.read_bytes()
    assert data.startswith(MAGIC[suffix])
    assert len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == [f"diagram{suffix}"]


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_vector_output_is_reproducible(tmp_path, suffix):
    ax = plotting.plot_diagram(_fold_branch())
    first = plotting.save_figure(ax, tmp_path / f"a{suffix}").read_bytes()
    time.sleep(1.1)  # a creation date would now differ
    second = plotting.save_figure(ax, tmp_path / f"b{suffix}").read_bytes()
    assert first == second


def test_failed_save_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "figure.png"
    path.write_bytes(b"the previous figure")
    fig = plotting.plot_diagram(_fold_branch()).figure

    def broken(target, **options):
        with open(target, "wb") as handle:
            handle.write(b"half a PNG")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plotting.save_figure(fig, path)
    assert path.read_bytes() == b"the previous figure"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]


def test_save_figure_rejects_unknown_suffix(tmp_path):
    fig = plotting.plot_diagram(_fold_branch()).figure
    with pytest.raises(InputError, match=r"\.png"):
        plotting.save_figure(fig, tmp_path / "figure.jpg")
    assert not list(tmp_path.iterdir())


def test_importing_bifurc_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, bifurc, bifurc.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
