"""Census of rest points and the graph of their unstable manifolds."""

import re
from collections import Counter

import numpy as np
import pytest
from numpy.testing import assert_allclose

from bifurc._errors import InputError
from bifurc._landscape import (
    Edge,
    RestPoint,
    RestPointGraph,
    find_rest_points,
    newton,
    rest_point_graph,
)
from bifurc._system import System


def two_well(mu=1.0):
    """E = x^4/4 - mu x^2/2 + y^2/2: x' = mu x - x^3, y' = -y."""

    def f(x, p):
        return np.array([p[0] * x[0] - x[0] ** 3, -x[1]])

    def jac(x, p):
        return np.array([[p[0] - 3 * x[0] ** 2, 0.0], [0.0, -1.0]])

    return System.from_callable(
        f, ["x", "y"], {"mu": mu}, jacobian=jac, gradient=True, box=([-3, -3], [3, 3])
    )


def egg_crate(tilt=0.0):
    """E = (x^2 - 1)^2/4 + (y^2 - 1)^2/4 - tilt x: nine rest points."""

    def f(x, p):
        return np.array([x[0] - x[0] ** 3 + p[0], x[1] - x[1] ** 3])

    return System.from_callable(
        f, ["x", "y"], {"tilt": tilt}, gradient=True, box=([-2, -2], [2, 2])
    )


def focus():
    """x' = -x - 2y, y' = 2x - y: a stable focus at the origin."""

    def f(x, p):
        return np.array([-x[0] - p[0] * x[1], p[0] * x[0] - x[1]])

    return System.from_callable(f, ["x", "y"], {"w": 2.0}, box=([-1, -1], [1, 1]))


# ----------------------------------------------------------------------
# Census


def test_census_finds_all_nine_rest_points_with_their_indices():
    census = find_rest_points(egg_crate(), seed=1)

    assert len(census) == 9
    states = np.array([r.x for r in census])
    expected = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)], float)
    for point in expected:
        assert np.min(np.max(np.abs(states - point), axis=1)) < 1e-12
    for r in census:
        assert r.morse_index == int(np.sum(np.abs(r.x) < 0.5))
    kinds = [r.kind for r in census]
    assert kinds.count("sink") == 4 and kinds.count("saddle") == 4
    assert kinds.count("source") == 1
    assert census.n_sinks == 4


def test_census_order_and_ids_are_canonical():
    census = find_rest_points(egg_crate(), seed=1)

    assert [r.id for r in census] == list(range(9))
    indices = [r.morse_index for r in census]
    assert indices == sorted(indices)
    other = find_rest_points(egg_crate(), seed=7, n_starts=128)
    assert_allclose([r.x for r in other], [r.x for r in census], atol=1e-12)


def test_same_seed_same_census():
    first = find_rest_points(egg_crate(0.1), seed=3, n_starts=16)
    second = find_rest_points(egg_crate(0.1), seed=3, n_starts=16)

    assert [tuple(r.x) for r in first] == [tuple(r.x) for r in second]
    assert first.n_newton == second.n_newton


def test_tilted_roots_match_the_cubic():
    tilt = 0.2
    census = find_rest_points(egg_crate(tilt), seed=0)
    roots = np.sort(np.roots([-1.0, 0.0, 1.0, tilt]).real)

    xs = sorted({round(r.x[0], 10) for r in census})
    assert_allclose(xs, roots, atol=1e-10)


def test_deflation_finds_several_roots_from_one_start():
    def f(x, p):
        return np.array([x[0] - x[0] ** 3])

    system = System.from_callable(f, ["x"], {"a": 0.0}, box=([-2.0], [2.0]))
    census = find_rest_points(system, n_starts=1, extra_starts=[[0.9]])

    assert_allclose(sorted(r.x[0] for r in census), [-1, 0, 1], atol=1e-12)


def test_known_roots_are_not_returned():
    known = [np.array([1.0, 1.0]), np.array([0.0, 0.0])]
    census = find_rest_points(egg_crate(), seed=1, known=known)

    assert len(census) == 7
    for r in census:
        assert min(np.max(np.abs(r.x - k)) for k in known) > 0.5


def test_only_roots_inside_the_box():
    census = find_rest_points(egg_crate(), box=([0.5, -2], [2, 2]), seed=2)

    assert len(census) == 3
    assert all(r.x[0] == pytest.approx(1.0) for r in census)


def test_census_with_a_sparse_jacobian():
    import scipy.sparse as sp

    n = 12

    def f(x, p):
        return x - x**3 - p[0]

    def jac(x, p):
        return sp.diags(1 - 3 * x**2, format="csr")

    system = System.from_callable(
        f,
        n,
        {"c": 0.0},
        jacobian=jac,
        sparse=True,
        box=(np.full(n, 0.5), np.full(n, 2)),
    )
    census = find_rest_points(system)

    assert len(census) == 1
    assert_allclose(census.rest_points[0].x, np.ones(n), atol=1e-12)
    assert census.rest_points[0].kind == "sink"


def test_focus_is_a_sink_with_complex_eigenvalues():
    census = find_rest_points(focus())

    (origin,) = census.rest_points
    assert origin.kind == "sink" and origin.complex_pair
    assert origin.label == "sink (focus)"
    assert_allclose(sorted(origin.eigenvalues.imag), [-2, 2], atol=1e-12)


def test_parameters_by_name():
    census = find_rest_points(two_well(), params={"mu": -1.0})

    assert len(census) == 1 and census.rest_points[0].kind == "sink"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"box": ([1, 1], [0, 0])}, "lower corner"),
        ({"box": ([0, 0, 0], [1, 1, 1])}, "box must be two corners"),
        ({"box": ([0, np.nan], [1, 1])}, "finite"),
        ({"n_starts": 0}, "n_starts"),
        ({"p": [1.0, 2.0]}, "full parameter vector"),
        ({"params": {"nu": 1.0}}, "unknown parameter 'nu'"),
        ({"known": [[0.0]]}, "known root"),
    ],
)
def test_bad_census_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        find_rest_points(two_well(), **kwargs)


# ----------------------------------------------------------------------
# Models undefined in part of the box


def half_defined(failure="raise"):
    """x' = 1 - x^2, y' = -y, with f undefined for x < 0 (raises, or NaN)."""

    def f(x, p):
        if x[0] < 0:
            if failure == "raise":
                raise ValueError("x must be non-negative")
            return np.array([np.nan, np.nan])
        return np.array([1 - x[0] ** 2, -x[1]])

    return System.from_callable(f, ["x", "y"], {"p": 0.0}, box=([-2, -2], [2, 2]))


@pytest.mark.parametrize("failure", ["raise", "nan"])
def test_census_aborted_by_f_raising_at_one_start(failure):
    census = find_rest_points(half_defined(failure), seed=3)

    (sink,) = census.rest_points
    assert_allclose(sink.x, [1.0, 0.0], atol=1e-12)
    assert census.status.success
    # About half the starts lie where x < 0; each is skipped and counted.
    assert 0 < census.n_skipped < census.n_starts
    assert f"{census.n_skipped} of {census.n_starts} starts skipped" in census.message


@pytest.mark.parametrize(
    ("failure", "status", "match"),
    [("raise", "USER_ERROR", "ValueError: x must be non-negative"),
     ("nan", "NON_FINITE", "not finite")],
)  # fmt: skip
def test_census_where_f_fails_at_every_start_says_so(failure, status, match):
    census = find_rest_points(half_defined(failure), box=([-2, -1], [-1, 1]))

    assert len(census) == 0
    assert census.status.name == status
    assert census.n_skipped == census.n_starts == 64
    assert re.search(match, census.message) and "give a box" in census.message


def test_newton_backtracks_from_where_f_raises():
    # From x = 3 the Newton step for log x = 0 lands at 3 - 3 log 3 < 0,
    # where log raises: backtracking must shorten it instead of failing.
    def f(x, p):
        if x[0] <= 0:
            raise ValueError("log of a non-positive number")
        return np.array([-np.log(x[0])])

    system = System.from_callable(f, ["x"], {"p": 0.0}, box=([0.1], [4.0]))
    x, converged = newton(system, np.array([3.0]), np.zeros(1))

    assert converged
    assert_allclose(x, [1.0], rtol=1e-12)


# ----------------------------------------------------------------------
# Odd systems


def test_census_of_the_odd_hopfield_network_is_complete_for_every_seed():
    """The 5-unit network at gain 3 is odd; its census must not depend on luck.

    Checked independently of the census: every state is a root, the set is
    closed under x -> -x, and the indices satisfy Poincare-Hopf on the box,
    where the flow points inward: sum of (-1)^(Morse index) = 1.
    """
    from bifurc import models

    system = models.get("hopfield").build(beta=3.0)
    counts = []
    for seed in range(6):
        census = find_rest_points(system, seed=seed)
        states = np.array([r.x for r in census])

        assert census.odd
        assert np.max(np.abs([system.f(x, system.defaults) for x in states])) < 1e-10
        for x in states:
            assert np.min(np.max(np.abs(states + x), axis=1)) < 1e-9
        assert sum((-1) ** r.morse_index for r in census) == 1
        counts.append(Counter(r.morse_index for r in census))
    assert all(count == {0: 4, 1: 4, 2: 1} for count in counts)


def test_odd_symmetry_is_detected_only_for_odd_systems():
    assert find_rest_points(egg_crate(0.0)).odd
    assert not find_rest_points(egg_crate(0.2)).odd
    assert not find_rest_points(egg_crate(0.0), use_odd_symmetry=False).odd


# ----------------------------------------------------------------------
# Graph


def test_two_well_graph_after_the_pitchfork():
    graph = rest_point_graph(two_well(1.0), param="mu")

    assert graph.value == 1.0
    saddle = next(node for node in graph.nodes if node.kind == "saddle")
    sinks = sorted(node.id for node in graph.nodes if node.kind == "sink")
    assert graph.targets(saddle.id) == tuple(sinks)
    assert_allclose(sorted(graph.node(i).x[0] for i in sinks), [-1, 1], atol=1e-12)
    assert graph.is_acyclic and not graph.saddle_connections


def test_two_well_graph_before_the_pitchfork_is_one_sink():
    graph = rest_point_graph(two_well(-1.0))

    assert [node.kind for node in graph.nodes] == ["sink"]
    assert graph.edges == ()


def test_to_networkx_is_a_dag_with_node_data():
    nx = pytest.importorskip("networkx")
    graph = rest_point_graph(egg_crate(0.05))
    g = graph.to_networkx()

    assert nx.is_directed_acyclic_graph(g)
    assert set(g.nodes) == set(graph.ids)
    source = next(node for node in graph.nodes if node.kind == "source")
    assert g.nodes[source.id]["morse_index"] == 2
    # Every saddle has two branches, each ending at a sink.
    for node in graph.nodes:
        if node.kind == "saddle":
            assert g.out_degree(node.id) == 2
            assert all(graph.node(t).kind == "sink" for t in g.successors(node.id))


def test_source_edges_count_each_target_once():
    graph = rest_point_graph(egg_crate(0.05))

    source = next(node for node in graph.nodes if node.kind == "source")
    assert len([e for e in graph.edges if e.source == source.id]) >= 8
    counted = [key for key in graph.edge_counts if key[0] == source.id]
    assert all(graph.edge_counts[key] == 1 for key in counted)


def _node(i, kind, index):
    return RestPoint(np.array([float(i)]), index, kind, np.zeros(1), id=i)


def test_cycles_are_reported():
    nodes = (_node(0, "saddle", 1), _node(1, "saddle", 1), _node(2, "sink", 0))
    edges = (Edge(0, 1, 0), Edge(1, 0, 0), Edge(0, 2, 1), Edge(1, 2, 1))
    graph = RestPointGraph(nodes=nodes, edges=edges)

    assert graph.cycles == ((0, 1),)
    assert not graph.is_acyclic
    assert len(graph.saddle_connections) == 2


def test_diff_names_exactly_the_changed_edge():
    nodes = (_node(0, "sink", 0), _node(1, "sink", 0), _node(2, "saddle", 1))
    before = RestPointGraph(nodes, (Edge(2, 0, 0), Edge(2, 1, 1)))
    after = RestPointGraph(nodes, (Edge(2, 1, 0), Edge(2, 1, 1)))

    diff = before.diff(after)
    assert diff.removed_edges == ((2, 0),)
    assert diff.added_edges == ((2, 1),)
    assert not diff.added_nodes and not diff.removed_nodes
    assert before != after and before == RestPointGraph(nodes, before.edges[::-1])
    assert not before.diff(before)


def test_graph_with_given_rest_points_keeps_their_ids():
    system = two_well(1.0)
    census = find_rest_points(system)
    renumbered = [r.with_id(10 + i) for i, r in enumerate(census)]
    graph = rest_point_graph(system, rest_points=renumbered)

    saddle = next(node for node in graph.nodes if node.kind == "saddle")
    assert set(graph.targets(saddle.id)) == {10, 11}


def test_incomplete_graph_has_nodes_and_a_note():
    graph = rest_point_graph(two_well(1.0), complete=False, note="not computed")

    assert len(graph.nodes) == 3 and graph.edges == ()
    assert "not computed" in graph.to_text()


def test_duplicate_ids_are_rejected():
    system = two_well(1.0)
    points = [r.with_id(0) for r in find_rest_points(system)]
    with pytest.raises(InputError, match="distinct"):
        rest_point_graph(system, rest_points=points)


def test_separate_cycles_are_separate_groups():
    nodes = tuple(_node(i, "saddle", 1) for i in range(6))
    edges = (Edge(0, 1, 0), Edge(1, 2, 0), Edge(2, 0, 0), Edge(3, 4, 0))
    edges += (Edge(4, 3, 0), Edge(2, 5, 1))
    graph = RestPointGraph(nodes=nodes, edges=edges)

    assert graph.cycles == ((0, 1, 2), (3, 4))
    assert "cycles" in graph.to_text()
