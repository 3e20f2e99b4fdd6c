"""Structural-stability reports: each condition against a case with a known answer."""

import networkx as nx
import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose

import bifurc
from bifurc import models

# W with eigenvalues 1 +/- i: the origin of x' = -x + W tanh(beta x) has the
# eigenvalues -1 + beta (1 +/- i), a Hopf point at beta = 1 exactly.
ROTATING_W = [[1.0, 1.0], [-1.0, 1.0]]


def triangle(radius=1.0):
    """Corners of an equilateral triangle centred at the origin."""
    angles = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


def test_non_symmetric_hopfield_at_its_hopf_point():
    report = bifurc.structural_stability(models.hopfield(ROTATING_W), {"beta": 1.0})

    assert report.condition("gradient-like").passed is False
    assert "complex eigenvalues" in report.condition("gradient-like").message
    assert report.condition("hyperbolic").passed is False
    assert report.condition("no-periodic-orbit").passed is False
    assert "Hopf" in report.condition("no-periodic-orbit").message
    assert report.stable is False
    origin = np.flatnonzero(np.all(np.abs(report.rest_points) < 1e-12, axis=1))
    assert_allclose(sorted(report.eigenvalues[origin[0]].imag), [-1, 1], atol=1e-12)


def test_non_symmetric_hopfield_beyond_hopf_has_a_periodic_orbit():
    report = bifurc.structural_stability(models.hopfield(ROTATING_W), {"beta": 1.3})

    assert report.condition("hyperbolic").passed is True
    assert report.condition("no-periodic-orbit").passed is False
    assert "without settling" in report.condition("no-periodic-orbit").message


def test_non_symmetric_hopfield_before_hopf_settles():
    report = bifurc.structural_stability(models.hopfield(ROTATING_W), {"beta": 0.7})

    assert report.condition("gradient-like").passed is False
    assert report.condition("no-periodic-orbit").passed is True
    assert report.morse_indices.tolist() == [0]


def test_hebbian_network_without_leak_has_a_continuum_of_rest_points():
    system = models.hebbian([[1, 1]], leak=0.0, beta=1.0)
    report = bifurc.structural_stability(system)
    continuum = report.condition("isolated-rest-points")

    assert continuum.passed is False
    assert "rank 1 of 2" in continuum.message
    assert report.condition("hyperbolic").passed is False
    # W g = 0 with W = [[1, 1], [1, 1]] / 2 means tanh(x1) = -tanh(x2).
    assert len(report.rest_points) >= 3
    assert_allclose(report.rest_points.sum(axis=1), 0.0, atol=1e-10)


def test_hebbian_network_with_leak_has_isolated_rest_points():
    system = models.hebbian([[1, 1]], leak=1.0, beta=0.5)
    report = bifurc.structural_stability(system)

    assert report.condition("isolated-rest-points").passed is True
    assert report.stable is None  # only the connection graph is missing
    assert report.condition("no-saddle-connection").passed is None


def test_repeated_top_eigenvalue_of_w_is_a_degenerate_first_instability():
    rotation = np.linalg.qr(np.random.default_rng(5).standard_normal((3, 3)))[0]
    weights = rotation @ np.diag([2.0, 2.0, 0.5]) @ rotation.T
    report = bifurc.structural_stability(models.hopfield(weights), {"beta": 0.2})
    check = report.condition("simple-first-instability")

    assert check.passed is False
    assert "multiplicity 2" in check.message
    assert "0.5" in check.message  # beta = leak / lambda_max = 1 / 2


def test_default_hopfield_first_instability_is_simple_at_one_over_lambda_max():
    top = np.linalg.eigvalsh(models.default_weights())[-1]
    report = bifurc.structural_stability(models.hopfield(), {"beta": 0.5})
    check = report.condition("simple-first-instability")

    assert check.passed is True
    assert f"{1 / top:.10g}" in check.message


def test_equilateral_triangle_bifurcation_is_degenerate():
    radius = 1.3
    # At the centroid f_x = Cov / sigma^2 - I with Cov = radius^2 / 2 I.
    critical = radius / np.sqrt(2)
    report = bifurc.structural_stability(models.diffusion(triangle(radius)), [critical])
    centroid = int(np.argmin(np.linalg.norm(report.rest_points, axis=1)))

    assert np.linalg.norm(report.rest_points[centroid]) < 1e-7
    assert np.max(np.abs(report.eigenvalues[centroid])) < 1e-6
    assert report.condition("generic").passed is False
    assert "2 eigenvalues on the imaginary axis" in report.condition("generic").message


def test_equilateral_triangle_away_from_the_bifurcation_is_generic():
    radius = 1.3
    report = bifurc.structural_stability(
        models.diffusion(triangle(radius)), [1.01 * radius / np.sqrt(2)]
    )
    assert report.condition("hyperbolic").passed is True
    assert report.condition("generic").passed is True


def test_two_points_below_the_pitchfork_have_sinks_near_the_data():
    a, sigma = 1.5, 0.9
    report = bifurc.structural_stability(models.diffusion([-a, a], value=sigma))
    # Independent reference: x = a tanh(a x / sigma^2) on (a / 2, 2 a).
    root = scipy.optimize.brentq(
        lambda x: a * np.tanh(a * x / sigma**2) - x, a / 2, 2 * a, xtol=1e-15
    )

    sinks = np.sort(report.rest_points[report.morse_indices == 0, 0])
    saddles = report.rest_points[report.morse_indices == 1, 0]
    assert_allclose(sinks, [-root, root], rtol=1e-13)
    assert_allclose(saddles, [0.0], atol=1e-14)
    assert abs(root - a) < 0.05 * a


def test_tiny_noise_puts_the_sinks_on_the_data():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    report = bifurc.structural_stability(models.diffusion(points, value=0.01))
    sinks = report.rest_points[report.morse_indices == 0]

    assert np.all(np.isfinite(report.rest_points))
    assert all(np.all(np.isfinite(values)) for values in report.eigenvalues)
    assert len(sinks) == 3
    for point in points:
        assert np.min(np.linalg.norm(sinks - point, axis=1)) <= 1e-12


def test_symmetric_jacobian_without_energy_is_gradient_like():
    system = bifurc.System.from_callable(
        lambda x, p: np.array([-x[0] + p[0] * x[1], p[0] * x[0] - x[1] ** 3]),
        ["x", "y"],
        {"c": 0.5},
        jacobian=lambda x, p: np.array([[-1.0, p[0]], [p[0], -3 * x[1] ** 2]]),
    )
    report = bifurc.structural_stability(system)

    assert report.condition("gradient-like").passed is True
    assert "symmetric at all" in report.condition("gradient-like").message


def test_asymmetric_jacobian_with_real_eigenvalues_is_undecided():
    system = bifurc.System.from_callable(
        lambda x, p: np.array([-x[0] + p[0] * x[1] ** 2, -x[1]]),
        ["x", "y"],
        {"c": 2.0},
    )
    report = bifurc.structural_stability(system)

    assert report.condition("gradient-like").passed is None
    assert report.condition("no-periodic-orbit").passed is True


def connection_graph(indices, edges):
    graph = nx.MultiDiGraph()
    for node, index in enumerate(indices):
        graph.add_node(node, morse_index=index)
    graph.add_edges_from(edges)
    return graph


def test_saddle_to_saddle_connection_fails():
    graph = connection_graph([1, 1, 0, 0], [(0, 1), (0, 2), (1, 2), (1, 3)])
    report = bifurc.structural_stability(models.two_well(), {"mu": 1.0}, graph=graph)
    check = report.condition("no-saddle-connection")

    assert check.passed is False
    assert "saddle 0 (index 1) to saddle 1 (index 1)" in check.message


def test_graph_without_saddle_connection_passes():
    graph = connection_graph([1, 0, 0], [(0, 1), (0, 2)])
    report = bifurc.structural_stability(models.two_well(), {"mu": 1.0}, graph=graph)

    assert report.condition("no-saddle-connection").passed is True
    assert report.stable is True


def test_supplied_rest_points_are_polished():
    report = bifurc.structural_stability(
        models.pitchfork(), {"p": 1.0}, rest_points=[[0.999], [-1.001], [0.002]]
    )
    assert_allclose(report.rest_points[:, 0], [1.0, -1.0, 0.0], atol=1e-15)
    assert report.morse_indices.tolist() == [0, 0, 1]


def test_report_renders_as_text_and_table():
    report = bifurc.structural_stability(models.hopf(), {"mu": 0.0})
    text = str(report)

    assert "[FAIL] hyperbolic" in text
    assert "verdict: not structurally stable" in text
    table = report.to_dataframe()
    assert list(table.columns) == ["name", "passed", "message"]
    assert len(table) == len(report.conditions)


def test_bad_input_is_named():
    system = models.pitchfork()
    with pytest.raises(bifurc.InputError, match="p must be a finite parameter vector"):
        bifurc.structural_stability(system, [1.0, 2.0])
    with pytest.raises(bifurc.InputError, match="graph must be"):
        bifurc.structural_stability(system, graph=[(0, 1)])
    with pytest.raises(KeyError, match="no condition 'stable'"):
        bifurc.structural_stability(system).condition("stable")


def test_rest_point_graph_of_the_two_well_passes_the_connection_check():
    system = models.two_well()
    graph = bifurc.rest_point_graph(system, [1.0])
    report = bifurc.structural_stability(system, [1.0], graph=graph)

    assert report.condition("no-saddle-connection").passed is True
    assert "2 connections" in report.condition("no-saddle-connection").message
    assert report.stable is True
