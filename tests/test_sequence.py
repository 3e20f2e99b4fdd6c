"""The ordered bifurcation sequence: local and global events, tracks, graphs."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from bifurc._errors import InputError
from bifurc._sequence import bifurcation_sequence
from bifurc._status import Status
from bifurc._system import System

LEADING = [
    "order", "kind", "label", "param", "value", "x", "y", "source", "target",
    "morse_indices", "n_rest_before", "n_rest_after", "n_sinks_before",
    "n_sinks_after", "description",
]  # fmt: skip


# ----------------------------------------------------------------------
# Reference problems


def two_well():
    """E = x^4/4 - mu x^2/2 + y^2/2: a pitchfork at mu = 0."""

    def f(x, p):
        return np.array([p[0] * x[0] - x[0] ** 3, -x[1]])

    def jac(x, p):
        return np.array([[p[0] - 3 * x[0] ** 2, 0.0], [0.0, -1.0]])

    return System.from_callable(
        f, ["x", "y"], {"mu": -1.0}, jacobian=jac, gradient=True,
        box=([-3, -3], [3, 3]), name="two-well",
    )  # fmt: skip


def tilted_well():
    """E = x^4/4 - x^2/2 - t x + y^2/2: folds at t = -/+ 2 / (3 sqrt 3)."""

    def f(x, p):
        return np.array([x[0] - x[0] ** 3 + p[0], -x[1]])

    def jac(x, p):
        return np.array([[1 - 3 * x[0] ** 2, 0.0], [0.0, -1.0]])

    return System.from_callable(
        f, ["x", "y"], {"t": -1.0}, jacobian=jac, gradient=True,
        box=([-3, -3], [3, 3]), name="tilted-well",
    )  # fmt: skip


def isola(radius=0.5):
    """x' = -x ((x - 2)^2 + t^2 - r^2), y' = -y: a circle of rest points, apart."""

    def f(x, p):
        circle = (x[0] - 2) ** 2 + p[0] ** 2 - p[1] ** 2
        return np.array([-x[0] * circle, -x[1]])

    def jac(x, p):
        circle = (x[0] - 2) ** 2 + p[0] ** 2 - p[1] ** 2
        return np.array([[-circle - 2 * x[0] * (x[0] - 2), 0.0], [0.0, -1.0]])

    return System.from_callable(
        f, ["x", "y"], {"t": -1.0, "r": radius}, jacobian=jac, gradient=True,
        box=([-1, -1], [4, 1]), name="isola",
    )  # fmt: skip


# The connection of `saddles` lies at a = CONNECTION by the symmetry y -> -y.
CONNECTION = 0.3


def saddles():
    """Gradient flow of E = V(x) - x y^2/2 + y^4/4 + (a - 0.3) y with two saddles.

    V'(x) = (x + 3)(x + 1)(x - 1).  At a = 0.3 the energy is even in y, so the
    line y = 0 is invariant and carries the orbit from the saddle (-1, 0) to
    the saddle near (1, 0); for a on either side the unstable branch of
    (-1, 0) lands in the upper or the lower sink.
    """

    def f(x, p):
        u, v = x
        tilt = p[0] - CONNECTION
        return np.array([-(u + 3) * (u + 1) * (u - 1) + v**2 / 2, u * v - v**3 - tilt])

    def jac(x, p):
        u, v = x
        d_v = (u + 1) * (u - 1) + (u + 3) * (u - 1) + (u + 3) * (u + 1)
        return np.array([[-d_v, v], [v, u - 3 * v**2]])

    return System.from_callable(
        f, ["x", "y"], {"a": 0.1}, jacobian=jac, gradient=True,
        box=([-4, -2], [2, 2]), name="saddles",
    )  # fmt: skip


def twin_saddles():
    """Gradient flow of E = x^4/4 - x^2/2 + (1 - 2x^2) y^2/2 + 2y^4 + t y.

    A saddle near the origin sends its unstable branches along x towards
    the saddles near (-1, 0) and (1, 0).  At t = 0 the energy is even in y,
    the line y = 0 is invariant and both branches end at those saddles: two
    connections at one value, images of each other under x -> -x.
    """

    def f(x, p):
        u, v = x
        return np.array(
            [u - u**3 + 2 * u * v * v, -(1 - 2 * u * u) * v - 8 * v**3 - p[0]]
        )

    def jac(x, p):
        u, v = x
        return np.array(
            [
                [1 - 3 * u * u + 2 * v * v, 4 * u * v],
                [4 * u * v, 2 * u * u - 1 - 24 * v * v],
            ]
        )

    return System.from_callable(
        f, ["x", "y"], {"t": -0.1}, jacobian=jac, gradient=True,
        box=([-2.0, -1.5], [2.0, 1.5]), name="twin-saddles",
    )  # fmt: skip


def hopf():
    """x' = mu x - y - x r^2, y' = x + mu y - y r^2: Hopf at mu = 0."""

    def f(x, p):
        r2 = x @ x
        return np.array(
            [p[0] * x[0] - x[1] - x[0] * r2, x[0] + p[0] * x[1] - x[1] * r2]
        )

    def jac(x, p):
        a, b = x
        return np.array(
            [
                [p[0] - 3 * a * a - b * b, -1 - 2 * a * b],
                [1 - 2 * a * b, p[0] - a * a - 3 * b * b],
            ]
        )

    return System.from_callable(
        f, ["x", "y"], {"mu": -1.0}, jacobian=jac, box=([-2, -2], [2, 2]), name="hopf"
    )


@pytest.fixture(scope="module")
def pitchfork_sequence():
    return bifurcation_sequence(two_well(), "mu", (-1.0, 1.0), n_samples=5)


@pytest.fixture(scope="module")
def het_sequence():
    return bifurcation_sequence(saddles(), "a", (0.1, 0.5), n_samples=7)


def _fold():
    """Fold value and state of x - x^3 + t = 0 (closed form)."""
    return -2 / (3 * math.sqrt(3)), 1 / math.sqrt(3)


# ----------------------------------------------------------------------
# Local events


def test_pitchfork_is_the_only_event(pitchfork_sequence):
    seq = pitchfork_sequence

    assert seq.status is Status.SUCCESS, seq.message
    assert [(e.label, e.kind) for e in seq.events] == [("BP", "pitchfork")]
    event = seq.events[0]
    assert abs(event.value) < 1e-9
    assert_allclose(event.x, [0, 0], atol=1e-8)
    assert (event.n_rest_before, event.n_rest_after) == (1, 3)
    assert (event.n_sinks_before, event.n_sinks_after) == (1, 2)
    assert event.morse_indices == "0 -> 0 0 1"


def test_pitchfork_description_names_the_tracks(pitchfork_sequence):
    event = pitchfork_sequence.events[0]
    (sink,) = event.source
    sink_a, sink_b, saddle = event.target

    assert event.description == (
        f"sink {sink} splits into sinks {sink_a}, {sink_b} and saddle {saddle}"
    )


def test_graphs_before_and_after_the_pitchfork(pitchfork_sequence):
    seq = pitchfork_sequence
    before = seq.graph_at(-0.5)
    after = seq.graph_at(0.5)

    assert [node.kind for node in before.nodes] == ["sink"]
    assert before.edges == ()
    assert sorted(node.kind for node in after.nodes) == ["saddle", "sink", "sink"]
    saddle = next(node for node in after.nodes if node.kind == "saddle")
    sinks = sorted(node.id for node in after.nodes if node.kind == "sink")
    assert after.targets(saddle.id) == tuple(sinks)
    assert_allclose(
        sorted(after.node(i).x[0] for i in sinks), [-math.sqrt(0.5), math.sqrt(0.5)]
    )
    assert set(after.ids) == set(seq.events[0].target)


def test_intervals_are_morse_smale_between_events(pitchfork_sequence):
    intervals = pitchfork_sequence.intervals

    assert [(i.n_rest, i.n_sinks) for i in intervals] == [(1, 1), (3, 2)]
    assert all(i.morse_smale and i.gradient_like for i in intervals)
    assert intervals[0].start == -1.0 and intervals[-1].end == 1.0


def test_fold_away_from_the_branch_is_found_by_sampling():
    value, x = _fold()
    seq = bifurcation_sequence(tilted_well(), "t", (-1.0, 0.2), n_samples=6)

    assert [e.label for e in seq.events] == ["LP"]
    event = seq.events[0]
    assert event.kind == "saddle-node"
    assert event.value == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert event.x[0] == pytest.approx(x, abs=1e-6)
    assert event.source == () and len(event.target) == 2
    assert (event.n_rest_before, event.n_rest_after) == (1, 3)
    assert "appear" in event.description
    assert event.p_before < value < event.p_after


def test_two_folds_in_sweep_order():
    value, _ = _fold()
    seq = bifurcation_sequence(tilted_well(), "t", (-1.0, 1.0), n_samples=7)

    assert [e.label for e in seq.events] == ["LP", "LP"]
    assert_allclose([e.value for e in seq.events], [value, -value], rtol=1e-9)
    assert [e.n_sinks_after for e in seq.events] == [2, 1]
    assert "collide and disappear" in seq.events[1].description


def test_isola_is_found_by_sampling():
    radius = 0.5
    seq = bifurcation_sequence(isola(radius), "t", (-1.0, 1.0), n_samples=9)

    assert [e.label for e in seq.events] == ["LP", "LP"]
    assert_allclose([e.value for e in seq.events], [-radius, radius], rtol=1e-9)
    assert_allclose([e.x[0] for e in seq.events], [2.0, 2.0], atol=1e-6)
    assert [(e.n_rest_before, e.n_rest_after) for e in seq.events] == [(1, 3), (3, 1)]


# ----------------------------------------------------------------------
# Global events


def test_saddle_connection_is_reported_as_het(het_sequence):
    seq = het_sequence

    assert [e.label for e in seq.events] == ["HET"], seq.message
    event = seq.events[0]
    assert event.kind == "heteroclinic" and event.located_by == "connection"
    assert event.value == pytest.approx(CONNECTION, abs=1e-6)
    assert event.converged
    assert event.n_rest_before == event.n_rest_after == 5
    assert event.morse_indices == "1 -> 1"


def test_het_joins_the_two_saddles(het_sequence):
    seq = het_sequence
    event = seq.events[0]
    graph = seq.graph_at(0.2)
    (source,), (target,) = event.source, event.target

    # The tilt moves the saddles off (-1, 0) and (1, 0) by about a - 0.3.
    assert_allclose(graph.node(source).x, [-1, 0], atol=0.15)
    assert graph.node(target).kind == "saddle"
    assert_allclose(graph.node(target).x, [1, 0], atol=0.15)
    # The midpoint of the orbit lies on y = 0 between the saddles.
    assert -1 < event.x[0] < 1 and abs(event.x[1]) < 1e-4


def test_graphs_around_the_het_differ_exactly_in_that_edge(het_sequence):
    seq = het_sequence
    event = seq.events[0]
    before, after = seq.graph_at(0.2), seq.graph_at(0.4)
    diff = before.diff(after)
    (source,) = event.source

    assert not diff.added_nodes and not diff.removed_nodes and not diff.changed_nodes
    assert len(diff.removed_edges) == len(diff.added_edges) == 1
    assert diff.removed_edges[0][0] == diff.added_edges[0][0] == source
    old, new = diff.removed_edges[0][1], diff.added_edges[0][1]
    assert before.node(old).kind == after.node(new).kind == "sink"
    # Below the connection the branch lands in the upper sink (the tilt
    # (a - 0.3) y pushes y up), above it in the lower one.
    assert before.node(old).x[1] > 0 > after.node(new).x[1]


def test_het_intervals_and_verdict(het_sequence):
    intervals = het_sequence.intervals

    assert len(intervals) == 2
    assert all(i.morse_smale for i in intervals)
    event = het_sequence.events[0]
    assert event.fails == "no saddle-to-saddle connection"


def test_two_connections_at_one_value_merged_into_one():
    seq = bifurcation_sequence(twin_saddles(), "t", (-0.1, 0.1), n_samples=5)

    hets = [e for e in seq.events if e.label == "HET"]
    assert len(seq.events) == len(hets) == 2, seq.message
    assert all(e.located_by == "connection" and e.converged for e in hets)
    assert_allclose([e.value for e in hets], 0.0, atol=1e-9)

    # One saddle, near the origin, connects to both outer saddles.
    graph = seq.graph_at(-0.05)
    ((source,),) = {e.source for e in hets}
    targets = sorted((e.target[0] for e in hets), key=lambda i: graph.node(i).x[0])
    assert_allclose(graph.node(source).x, [0, 0], atol=0.1)
    assert [graph.node(i).kind for i in targets] == ["saddle", "saddle"]
    assert_allclose([graph.node(i).x[0] for i in targets], [-1, 1], atol=0.1)
    # Each row describes its own branch, and the event point is the midpoint
    # of its orbit, on y = 0 between the saddles.
    assert len({e.description for e in hets}) == 2
    assert sorted(np.sign(e.x[0]) for e in hets) == [-1, 1]
    assert all(abs(e.x[1]) < 1e-6 for e in hets)
    assert len(seq.intervals) == 2 and all(i.morse_smale for i in seq.intervals)


# ----------------------------------------------------------------------
# Hopf


def test_hopf_is_reported_and_the_interval_after_is_flagged():
    seq = bifurcation_sequence(hopf(), "mu", (-1.0, 1.0), n_samples=5)

    assert [(e.label, e.kind) for e in seq.events] == [("H", "hopf")]
    assert abs(seq.events[0].value) < 1e-9
    before, after = seq.intervals
    assert before.gradient_like and before.morse_smale
    assert not after.gradient_like and not after.morse_smale
    assert "Hopf" in after.reason
    graph = seq.graph_at(0.5)
    assert not graph.complete and graph.edges == () and "Hopf" in graph.note
    assert [node.kind for node in graph.nodes] == ["source"]
    assert seq.graph_at(-0.5).complete


# ----------------------------------------------------------------------
# Direction, determinism, table


def _comparable(table):
    rows = table[["kind", "label", "value", "x", "y"]].copy()
    rows["value"] = rows["value"].round(9)
    rows[["x", "y"]] = rows[["x", "y"]].round(6)
    return rows.sort_values("value").reset_index(drop=True)


@pytest.mark.parametrize(
    ("system", "param", "p_range"),
    [(tilted_well, "t", (-1.0, 1.0)), (saddles, "a", (0.1, 0.5))],
)
def test_table_is_the_same_for_both_sweep_directions(system, param, p_range):
    up = bifurcation_sequence(system(), param, p_range, n_samples=7)
    down = bifurcation_sequence(system(), param, p_range[::-1], n_samples=7)

    pd.testing.assert_frame_equal(_comparable(up.table), _comparable(down.table))
    assert list(down.table["value"]) == sorted(down.table["value"], reverse=True)
    for a, b in zip(up.events, down.events[::-1], strict=True):
        assert (a.n_rest_before, a.n_rest_after) == (b.n_rest_after, b.n_rest_before)
        assert (a.n_sinks_before, a.n_sinks_after) == (
            b.n_sinks_after,
            b.n_sinks_before,
        )


def test_same_seed_gives_byte_identical_csv(tmp_path):
    paths = [tmp_path / "first.csv", tmp_path / "second.csv"]
    for path in paths:
        bifurcation_sequence(
            tilted_well(), "t", (1.0, -1.0), n_samples=5, seed=4
        ).to_csv(path)

    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_text().splitlines()[0].startswith(",".join(LEADING))


def test_table_columns(pitchfork_sequence):
    table = pitchfork_sequence.table

    assert list(table.columns[: len(LEADING)]) == LEADING
    assert {"p_before", "p_after", "converged", "precision"} <= set(table.columns)
    assert table.loc[0, "param"] == "mu"


def test_text_rendering(pitchfork_sequence):
    text = str(pitchfork_sequence)

    assert "BP" in text and "splits into" in text
    assert "Morse-Smale" in text


def test_diagram_holds_every_branch(pitchfork_sequence):
    diagram = pitchfork_sequence.diagram

    assert len(diagram.branches) == len(pitchfork_sequence.branches) >= 2
    assert set(diagram.to_dataframe()["label"].dropna()) >= {"BP"}


def test_tracks_have_ids_in_sweep_order(pitchfork_sequence):
    tracks = pitchfork_sequence.tracks

    assert [t.id for t in tracks] == list(range(len(tracks)))
    first = tracks[0]
    assert first.kind == "sink" and first.p[0] == -1.0
    assert first.ends == ("range", "event")


# ----------------------------------------------------------------------
# Input


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("mu", (1.0, 1.0)), {}, "distinct"),
        (("mu", (0.0, math.inf)), {}, "finite"),
        (("mu", 3.0), {}, "two numbers"),
        (("nu", (0.0, 1.0)), {}, "unknown parameter"),
        (("mu", (0.0, 1.0)), {"n_samples": 1}, "n_samples"),
        (("mu", (0.0, 1.0)), {"seed": -1}, "seed"),
        (("mu", (0.0, 1.0)), {"nsamples": 3}, r"unknown option\(s\) \['nsamples'\]"),
        (("mu", (0.0, 1.0)), {"options": {"seed": 1}}, "SequenceOptions"),
        (
            ("mu", (0.0, 1.0)),
            {"manifold_options": 3},
            "manifold_options must be a dict",
        ),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        bifurcation_sequence(two_well(), *args, **kwargs)


def test_graph_outside_the_range_is_an_error(pitchfork_sequence):
    with pytest.raises(InputError, match="outside the swept interval"):
        pitchfork_sequence.graph_at(2.0)


def test_interrupt_returns_what_was_computed():
    system = tilted_well()
    calls = {"n": 0}

    def f(x, p):
        calls["n"] += 1
        if calls["n"] == 12000:
            raise KeyboardInterrupt
        return system.rhs(x, p)

    interrupted = System.from_callable(
        f, ["x", "y"], {"t": -1.0}, jacobian=system.jacobian, gradient=True,
        box=system.box,
    )  # fmt: skip
    seq = bifurcation_sequence(interrupted, "t", (-1.0, 1.0), n_samples=7)

    assert seq.status is Status.INTERRUPTED
    assert seq.message.startswith(Status.INTERRUPTED.text)
    # Whatever was computed before the interruption is kept and usable.
    assert len(seq.branches) >= 1 and len(seq.tracks) >= 1
    assert [e.label for e in seq.events] == ["LP", "LP"][: len(seq.events)]
    assert seq.to_dataframe().shape[0] == len(seq.events)


def test_table_does_not_depend_on_the_order_rest_points_are_found():
    # Other seeds and start counts find the rest points in another order
    # and start the branches elsewhere; ids and descriptions stay the same.
    tables = [
        bifurcation_sequence(isola(), "t", (1.0, -1.0), n_samples=9, seed=seed,
                             n_starts=starts).table
        for seed, starts in ((0, 64), (11, 16))
    ]  # fmt: skip

    text = ["source", "target", "description", "label", "morse_indices"]
    pd.testing.assert_frame_equal(tables[0][text], tables[1][text])
    assert_allclose(tables[0]["value"], tables[1]["value"], rtol=1e-12)


# ----------------------------------------------------------------------
# Command line


def test_command_line_without_a_model_prints_the_default_table(
    capsys, default_sequence
):
    from bifurc.cli import main

    assert main(["sequence", "--no-progress"]) == 0
    out = capsys.readouterr().out

    seq = default_sequence
    assert out.startswith("Bifurcation sequence of diffusion")
    assert seq.events, "the default model should have events"
    for event in seq.events:
        assert f"{event.value:.10g}" in out and event.description in out


@pytest.fixture(scope="module")
def default_sequence():
    from bifurc import models

    entry = models.get("diffusion")
    return bifurcation_sequence(entry.build(), entry.param, entry.p_range)


def _mixture_flow(points, weights):
    """x' = D(x) - x of weighted points and its Jacobian, written out again."""
    points, log_weights = np.asarray(points, float), np.log(weights)

    def flow(x, sigma):
        logits = log_weights - np.sum((x - points) ** 2, axis=1) / (2 * sigma**2)
        pi = np.exp(logits - logits.max())
        pi /= pi.sum()
        centred = points - pi @ points
        jac = (centred.T * pi) @ centred / sigma**2 - np.eye(points.shape[1])
        return pi @ points - x, jac

    return flow


def _connection_gap(flow, source, target, sigma, rho=0.05):
    """Signed gap between W^u(source) and W^s(target) in the plane (shooting).

    Both saddles are refined by scipy's root finder; the unstable branch of
    the source heading for the target is integrated forward, the stable
    manifold of the target backward, each to the section at distance `rho`
    from the target along its stable direction; the gap is their offset
    along the target's unstable direction.
    """
    from scipy.optimize import root

    s, t = (
        root(lambda x: flow(x, sigma)[0], x0, tol=1e-14).x for x0 in (source, target)
    )
    u_s = np.linalg.eigh(flow(s, sigma)[1])[1][:, -1]
    u_s *= np.sign(u_s @ (t - s))
    stable, unstable = np.linalg.eigh(flow(t, sigma)[1])[1].T
    stable *= np.sign(stable @ (s - t))

    def section(_, x):
        return (x - t) @ stable - rho if np.linalg.norm(x - t) < 4 * rho else 1.0

    section.terminal = True
    ahead = _shoot(flow, sigma, s + 1e-8 * u_s, 1, section)
    behind = _shoot(flow, sigma, t + 1e-8 * stable, -1, section)
    return (ahead - behind) @ unstable


def _shoot(flow, sigma, start, sign, section):
    """Where the orbit from `start` (backward in time if `sign` < 0) meets `section`."""
    from scipy.integrate import solve_ivp

    orbit = solve_ivp(
        lambda _, x: sign * flow(x, sigma)[0], (0, 200), start, method="DOP853",
        rtol=1e-12, atol=1e-14, events=section,
    )  # fmt: skip
    return orbit.y_events[0][0]


def test_default_diffusion_model_has_folds_and_a_saddle_connection(default_sequence):
    """The default's HET and folds, each checked against an independent solve.

    The HET value is the root (brentq) of a shooting gap written with scipy
    alone; each fold solves f = 0, det f_x = 0 by scipy's root finder.
    """
    from scipy.optimize import brentq, root

    seq = default_sequence
    flow = _mixture_flow(*_default_data())
    assert seq.status is Status.SUCCESS, seq.message
    labels = [e.label for e in seq.events]
    assert labels.count("HET") == 1 and labels.count("LP") >= 2

    het = seq.events[labels.index("HET")]
    assert het.located_by == "connection" and het.converged
    graph = seq.graph_at(het.value)
    source, target = (graph.node(i).x for i in (*het.source, *het.target))
    assert graph.node(het.source[0]).kind == graph.node(het.target[0]).kind == "saddle"
    reference = brentq(
        lambda v: _connection_gap(flow, source, target, v),
        het.value - 1e-3, het.value + 1e-3, xtol=1e-14,
    )  # fmt: skip
    assert_allclose(het.value, reference, rtol=1e-9)

    for fold in (e for e in seq.events if e.label == "LP"):

        def extended(z):
            value, jac = flow(z[:-1], z[-1])
            return np.append(value, np.linalg.det(jac))

        start = np.append(np.asarray(fold.x) + 1e-3, fold.value + 1e-3)
        solution = root(extended, start, tol=1e-13)
        assert np.max(np.abs(extended(solution.x))) < 1e-12
        assert_allclose(fold.value, solution.x[-1], rtol=1e-9)


def _default_data():
    """Training points and weights of the default diffusion model."""
    from bifurc import models

    options = models.get("diffusion").options
    return options["points"], options["weights"]


def test_command_line_with_a_model_file_writes_the_files(tmp_path, capsys):
    from bifurc.cli import main

    model = tmp_path / "two_well.toml"
    model.write_text(
        'variables = ["x", "y"]\nenergy = "x**4/4 - mu*x**2/2 + y**2/2"\n'
        "[parameters]\nmu = -1.0\n[box]\nlower = -3.0\nupper = 3.0\n"
    )
    csv, diagram = tmp_path / "sequence.csv", tmp_path / "branches.csv"
    argv = ["sequence", str(model), "--range", "1", "-1", "--samples", "5"]
    argv += ["--csv", str(csv), "--diagram", str(diagram), "--no-progress"]

    assert main(argv) == 0
    table = pd.read_csv(csv, keep_default_na=False)
    assert list(table["label"]) == ["BP"] and abs(table.loc[0, "value"]) < 1e-9
    assert table.loc[0, "description"].startswith("sinks")
    assert (table.loc[0, "n_rest_before"], table.loc[0, "n_rest_after"]) == (3, 1)
    assert "BP" in set(pd.read_csv(diagram)["label"].dropna())
    assert "merge into sink" in capsys.readouterr().out


def test_command_line_model_file_needs_a_range(tmp_path, capsys):
    from bifurc.cli import main

    model = tmp_path / "m.toml"
    model.write_text(
        'variables = ["x"]\nenergy = "x**2/2 - a*x"\n[parameters]\na = 0.0\n'
    )
    out = tmp_path / "never.csv"

    assert main(["sequence", str(model), "--csv", str(out)]) == 2
    assert "--range" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------
# Refinement, progress, views


def test_branches_that_stop_early_make_the_sampling_finer():
    # Ten steps of 0.02 cannot cross the interval: every branch stops early.
    short = {"max_steps": 10, "ds_max": 0.02, "ds": 0.01}
    coarse = bifurcation_sequence(
        tilted_well(), "t", (-1.0, 1.0), n_samples=3, max_refine=0, **short
    )
    fine = bifurcation_sequence(
        tilted_well(), "t", (-1.0, 1.0), n_samples=3, max_refine=2, **short
    )

    assert coarse.status is Status.INCOMPLETE
    assert "stop being followed" in coarse.message and "max_steps" in coarse.message
    assert len(coarse.samples) == 3
    assert len(fine.samples) > len(coarse.samples)
    assert len(fine.branches) > len(coarse.branches)


def test_incomplete_message_at_a_degenerate_point_blames_the_step_size():
    # The mean of three orthogonal patterns of size d = 4 is a rest point
    # whose f_x = beta Cov - I has a double eigenvalue crossing zero at
    # beta = N / d = 3/4: no step size lets the continuation through.
    from bifurc import models

    patterns = [[1, 1, -1, -1], [1, -1, 1, -1], [-1, 1, 1, -1]]
    system = models.modern_hopfield(np.array(patterns, float), beta=0.0)
    seq = bifurcation_sequence(
        system, "beta", (0.0, 4.0), n_samples=5, connections=False
    )

    assert seq.status is Status.INCOMPLETE
    where = seq.message.split("stop being followed", 1)[1]
    values = [float(v) for v in re.findall(r"beta = ([-+0-9.eE]+)", where)]
    assert len(values) >= 2
    assert_allclose(values, 0.75, atol=1e-6)
    assert "step_too_small" in where and "2 eigenvalues near zero" in where
    assert "raise max_steps" not in seq.message


def test_sequence_of_a_model_undefined_in_the_whole_box_says_so():
    def f(x, p):
        raise ValueError("no model here")

    system = System.from_callable(f, ["x"], {"a": 0.0}, box=([-1.0], [1.0]))
    seq = bifurcation_sequence(system, "a", (0.0, 1.0), n_samples=3)

    assert seq.status is Status.USER_ERROR
    assert "no model here" in seq.message and "give a box" in seq.message
    assert seq.events == () and seq.tracks == ()


@pytest.mark.slow
def test_hopfield_fold_pair_missed_for_some_seeds():
    """The symmetric pair of folds of the default network is found for any seed.

    The fold is checked against an independent solve of f = 0, det f_x = 0
    by scipy's root finder.
    """
    from scipy.optimize import root

    from bifurc import models

    entry = models.get("hopfield")
    system = entry.build()
    text = ["order", "label", "kind", "source", "target", "description"]
    tables = [
        bifurcation_sequence(system, entry.param, entry.p_range, seed=seed).table
        for seed in range(6)
    ]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table[text], tables[0][text])
        assert_allclose(table["value"], tables[0]["value"], rtol=1e-9)

    folds = tables[0][tables[0]["label"] == "LP"]
    assert len(folds) == 2
    for _, row in folds.iterrows():
        x = row[list(system.variables)].to_numpy(float)

        def fold(z):
            p = system.parameter_vector({"beta": z[-1]})
            return np.append(system.f(z[:-1], p), np.linalg.det(system.fx(z[:-1], p)))

        solution = root(fold, np.append(x + 1e-3, row["value"] + 1e-3), tol=1e-13)
        assert np.max(np.abs(fold(solution.x))) < 1e-12
        assert_allclose(row["value"], solution.x[-1], rtol=1e-9)


def test_verbose_run_logs_its_stages(caplog):
    with caplog.at_level("INFO", logger="bifurc"):
        bifurcation_sequence(two_well(), "mu", (-1.0, 1.0), n_samples=3, verbose=2)

    text = caplog.text
    assert "census and continuation" in text and "graphs and connections" in text
    assert "census at mu = -1" in text


def test_intervals_table_and_tracks(pitchfork_sequence):
    frame = pitchfork_sequence.intervals_dataframe()

    assert list(frame.columns[:4]) == ["start", "end", "n_rest", "n_sinks"]
    assert frame["morse_smale"].all()
    saddle = next(t for t in pitchfork_sequence.tracks if t.kind == "saddle")
    assert saddle.ends == ("event", "range") and saddle.morse_index == 1
    assert_allclose(saddle.guess(0.5), [0, 0], atol=1e-12)


def test_graph_at_the_ends_and_at_the_event(pitchfork_sequence):
    seq = pitchfork_sequence
    at_event = seq.graph_at(seq.events[0].value)

    assert [node.kind for node in seq.graph_at(-1.0).nodes] == ["sink"]
    assert sorted(node.kind for node in seq.graph_at(1.0).nodes) == [
        "saddle", "sink", "sink",
    ]  # fmt: skip
    assert [node.kind for node in at_event.nodes] == ["non-hyperbolic"]
    assert at_event.edges == ()
