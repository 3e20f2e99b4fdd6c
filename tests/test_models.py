"""Built-in models: derivatives against Richardson-extrapolated differences,
closed-form facts, the registry and input validation."""

import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bifurc
from bifurc import models

# Derivatives must agree with extrapolated differences to this relative
# tolerance (entries measured against max(1, the largest entry)).
RTOL = 1e-7

# Central-difference step; one Richardson extrapolation makes the error
# O(h^4), far below RTOL, while rounding stays near eps / h.
STEP = 1e-3


def richardson(fun, point, direction):
    """Derivative of `fun` at `point` along `direction`, error O(STEP^4)."""

    def central(h):
        return (fun(point + h * direction) - fun(point - h * direction)) / (2 * h)

    return (4 * central(STEP / 2) - central(STEP)) / 3


def assert_close_relative(exact, approx, what):
    exact = np.asarray(exact.toarray() if hasattr(exact, "toarray") else exact)
    scale = max(1.0, float(np.max(np.abs(approx))))
    error = float(np.max(np.abs(exact - approx))) / scale
    assert error <= RTOL, f"{what}: relative error {error:.3g}"


def check_derivatives(system, x, p):
    """Jacobian, f_p for every parameter, energy gradient and second derivatives."""
    n, m = system.n, system.m
    eye_x, eye_p = np.eye(n), np.eye(m)

    fd_jac = np.column_stack(
        [richardson(lambda y: system.f(y, p), x, eye_x[j]) for j in range(n)]
    )
    assert_close_relative(system.fx(x, p), fd_jac, f"{system.name} f_x")

    fd_fp = np.column_stack(
        [richardson(lambda q: system.f(x, q), p, eye_p[k]) for k in range(m)]
    )
    assert_close_relative(system.param_jacobian(x, p), fd_fp, f"{system.name} f_p")

    if system.energy is not None:
        grad = np.array(
            [
                richardson(lambda y: np.array([system.energy(y, p)]), x, e)[0]
                for e in eye_x
            ]
        )
        assert_close_relative(-system.f(x, p), grad, f"{system.name} -grad E")
    if system.second_derivative is not None:
        check_second_derivative(system, x, p)


def check_second_derivative(system, x, p):
    """f'' in (x, p_k) space against differences of ``f_x u_x + f_pk u_p``."""
    rng = np.random.default_rng(3)
    n = system.n
    for k in range(system.m):
        u, v = rng.standard_normal(n + 1), rng.standard_normal(n + 1)

        def directional(z, k=k, u=u):
            q = np.array(p)
            q[k] = z[-1]
            jac = system.fx(z[:-1], q)
            return np.asarray(jac @ u[:-1]).ravel() + system.fp(z[:-1], q, k) * u[-1]

        point = np.append(x, p[k])
        approx = richardson(directional, point, v)
        exact = system.second_derivative(x, p, k, u, v)
        assert_close_relative(exact, approx, f"{system.name} f'' (k={k})")


def random_state(system, rng):
    if system.box is None:
        return rng.uniform(-1, 1, system.n)
    lower, upper = system.box
    centre, half = (lower + upper) / 2, (upper - lower) / 2
    return centre + 0.5 * half * rng.uniform(-1, 1, system.n)


def model_instances():
    """Every registered model plus variants that exercise each code path."""
    rng = np.random.default_rng(11)
    points3 = rng.standard_normal((6, 3))
    weights = rng.uniform(0.5, 2.0, 6)
    asymmetric = rng.standard_normal((4, 4))
    instances = [
        (entry.name, entry.build(**({"n_grid": 3} if entry.name == "bratu2d" else {})))
        for entry in models.available()
    ]
    for name in models.PARAMETERIZATIONS:
        value = models.noise_to_parameter(name, 0.8)
        system = models.diffusion(points3, weights, parameterization=name, value=value)
        instances.append((f"diffusion-{name}", system))
    for name in models.ACTIVATIONS:
        system = models.hopfield(asymmetric, rng.standard_normal(4), activation=name)
        instances.append((f"hopfield-{name}", system))
    instances += [
        ("hebbian", models.hebbian([[1, -1, 1], [1, 1, -1]], beta=1.3, leak=0.5)),
        ("modern-3d", models.modern_hopfield(points3, beta=1.7)),
        ("diffusion-1d", models.diffusion([-1.0, 0.5, 2.0], value=0.7)),
    ]
    return instances


def parameters_for(name, system, rng):
    """Default parameters with the non-structural ones perturbed a little."""
    p = np.array(system.defaults)
    if name.startswith(("hopfield", "hebbian")):
        p = p + rng.uniform(0.1, 0.4, p.size)
    elif name in ("energy-mlp", "energy-interpolation"):
        p[: p.size - 1] += rng.uniform(0.2, 0.6, p.size - 1)
    elif name == "modern-hopfield":
        p = p + 0.8
    return p


@pytest.mark.parametrize("name, system", model_instances(), ids=lambda v: str(v)[:30])
def test_derivatives_match_extrapolated_differences(name, system):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    for _ in range(3):
        x = random_state(system, rng)
        check_derivatives(system, x, parameters_for(name, system, rng))


@pytest.mark.parametrize("beta", [1.7, -0.8])
def test_hopfield_symmetrizer_has_the_jacobian_eigenvalues(beta):
    system = models.hopfield(beta=beta)
    x = np.linspace(-0.8, 0.9, system.n)
    p = system.defaults.copy()
    sym = system.symmetrizer(x, p)

    assert_allclose(sym, sym.T, rtol=0, atol=0)
    expected = np.sort(np.linalg.eigvals(system.fx(x, p)).real)
    assert_allclose(np.linalg.eigvalsh(sym), expected, rtol=1e-12, atol=1e-13)


def test_non_symmetric_hopfield_has_no_symmetrizer():
    system = models.hopfield([[1.0, 1.0], [-1.0, 1.0]])
    assert system.symmetrizer is None
    assert not system.gradient


def test_default_hopfield_weights_are_symmetric_with_simple_top_eigenvalue():
    weights = models.default_weights()
    eigenvalues = np.linalg.eigvalsh(weights)

    assert_allclose(weights, weights.T, rtol=0, atol=0)
    assert eigenvalues[-1] - eigenvalues[-2] > 0.1


def test_diffusion_parameterizations_describe_the_same_field():
    points = [[0.0, 1.0], [2.0, -1.0], [-1.5, 0.3]]
    x = np.array([0.3, 0.2])
    reference = models.diffusion(points, parameterization="sigma")
    expected = reference.f(x, np.array([0.9]))

    for name in models.PARAMETERIZATIONS:
        value = models.noise_to_parameter(name, 0.9)
        system = models.diffusion(points, parameterization=name)
        assert system.parameters == (name,)
        assert_allclose(system.f(x, np.array([value])), expected, rtol=1e-13)
        assert models.parameter_to_noise(name, value) == pytest.approx(0.9, rel=1e-14)


def test_time_parameterizations_follow_the_stated_conventions():
    sigma = 1.7
    assert models.noise_to_parameter("vp_time", sigma) == pytest.approx(
        np.log(1 + sigma**2) / 2, rel=1e-15
    )
    assert models.noise_to_parameter("ve_time", sigma) == pytest.approx(sigma**2)
    assert models.noise_to_parameter("beta", sigma) == pytest.approx(sigma**-2)


def test_modern_hopfield_with_equal_norm_patterns_is_a_diffusion_landscape():
    patterns = np.array([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0], [-1.0, -1.0, -1.0]])
    modern = models.modern_hopfield(patterns)
    landscape = models.diffusion(patterns, parameterization="beta")
    x, p = np.array([0.2, -0.4, 0.1]), np.array([0.7])

    assert_allclose(modern.f(x, p), landscape.f(x, p), rtol=1e-13)
    assert_allclose(modern.fx(x, p), landscape.fx(x, p), rtol=1e-12, atol=1e-15)


def test_two_point_landscape_is_a_scaled_tanh():
    a, sigma, x = 1.3, 0.8, 0.37
    system = models.diffusion([-a, a], value=sigma)
    expected = a * np.tanh(a * x / sigma**2) - x
    assert_allclose(system.f(np.array([x]), system.defaults), [expected], rtol=1e-14)


def test_tiny_noise_gives_finite_values_and_exact_data_rest_points():
    points = np.array([[0.0, 0.0], [1.0, 0.0]])
    system = models.diffusion(points, value=0.01)
    p = system.defaults
    with np.errstate(all="raise"):
        for x in (points[0], points[1], np.array([0.5, 0.0]), np.array([0.49, 0.3])):
            values = [system.f(x, p), system.fx(x, p), system.fp(x, p, 0)]
            assert all(np.all(np.isfinite(v)) for v in values)
            assert np.isfinite(system.energy(x, p))
        for point in points:
            assert np.max(np.abs(system.f(point, p))) <= 1e-300


def test_diffusion_outside_its_domain_returns_nan_without_warnings():
    system = models.diffusion([[0.0], [1.0]], parameterization="vp_time")
    with np.errstate(all="raise"):
        value = system.f(np.array([0.3]), np.array([-0.1]))
    assert np.all(np.isnan(value))


def test_energy_interpolation_ends_are_the_two_networks():
    start, end = models.default_networks()
    family = models.energy_interpolation(start, end, scale=1.5)
    x = np.array([0.4, -1.1])
    for lam, network in ((0.0, start), (1.0, end)):
        single = models.energy_mlp(network, scale=1.5)
        p = np.array([lam, 1.5, 1.0])
        assert_allclose(family.f(x, p), single.f(x, single.defaults), rtol=1e-13)


def test_hebbian_weights_from_patterns():
    system = models.hebbian([[1, 0, 1]], beta=1.0)
    expected = np.outer([1, -1, 1], [1, -1, 1]) / 3
    x = np.array([0.1, 0.2, -0.3])
    p = system.defaults
    assert_allclose(system.f(x, p), expected @ np.tanh(x) - x, rtol=1e-14)


def test_registry_lists_the_documented_names():
    names = {entry.name for entry in models.available()}
    required = {
        "fold",
        "pitchfork",
        "subcritical-pitchfork",
        "transcritical",
        "cusp",
        "double-well",
        "two-well",
        "bratu",
        "hopfield",
        "modern-hopfield",
        "diffusion",
        "energy-mlp",
    }
    assert required <= names


@pytest.mark.parametrize("entry", models.available(), ids=lambda e: e.name)
def test_registry_entries_start_near_a_rest_point(entry):
    system = entry.build(**({"n_grid": 3} if entry.name == "bratu2d" else {}))
    assert isinstance(system, bifurc.System)
    assert entry.param in system.parameters
    x0 = np.zeros(system.n) if entry.x0 is None else np.asarray(entry.x0)
    residual = np.max(np.abs(system.f(x0, system.defaults)))
    assert residual < 0.05, f"{entry.name}: |f(x0)| = {residual}"


def test_unknown_model_name_suggests_the_closest():
    with pytest.raises(bifurc.InputError, match=r"did you mean 'hopfield'"):
        models.get("hopfeild")
    with pytest.raises(bifurc.InputError, match="the built-in models are"):
        models.get("zzz")


def test_register_refuses_a_taken_name():
    entry = models.get("fold")
    with pytest.raises(bifurc.InputError, match="already registered"):
        models.register(entry)


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: models.diffusion([[0.0]], parameterization="time"),
            "parameterization",
        ),
        (lambda: models.diffusion([[0.0], [1.0]], [1.0]), "weights must be 2"),
        (lambda: models.diffusion([[0.0], [1.0]], [1.0, -1.0]), "positive"),
        (lambda: models.diffusion([[0.0], [np.nan]]), "points must be finite"),
        (lambda: models.diffusion([0, 1], parameterization="beta", value=-1), "domain"),
        (lambda: models.hopfield([[1.0, 2.0]]), "weights must be square"),
        (lambda: models.hopfield([[1.0]], bias=[1.0, 2.0]), r"bias must have shape"),
        (lambda: models.hopfield([[1.0]], leak=-1.0), "leak must be"),
        (lambda: models.hopfield([[1.0]], activation="relu"), "activation must be"),
        (lambda: models.hebbian([[1, 2]]), r"\+/-1"),
        (
            lambda: models.modern_hopfield([1.0, 2.0]),
            "patterns must be a non-empty 2-D",
        ),
        (lambda: models.energy_mlp({"weights": []}), "missing the keys"),
        (
            lambda: models.energy_mlp(
                {"weights": [np.ones((3, 2))], "biases": [np.ones(2)], "output": [1.0]}
            ),
            r"biases\[0\] must have shape \(3,\)",
        ),
        (
            lambda: models.energy_interpolation(
                models.SoftplusMLP([np.ones((2, 2))], [np.ones(2)], np.ones(2)),
                models.SoftplusMLP([np.ones((3, 2))], [np.ones(3)], np.ones(3)),
            ),
            "same layer shapes",
        ),
        (lambda: models.noise_to_parameter("sigma", 0.0), "sigma must be"),
    ],
)
def test_bad_input_is_named(build, match):
    with pytest.raises(bifurc.InputError, match=match):
        build()


def test_energy_model_from_an_expression_matches_the_built_in_two_well():
    written = models.energy_model(
        "x**4/4 - mu*x**2/2 + y**2/2", ["x", "y"], {"mu": 0.7}
    )
    built_in = models.two_well(mu=0.7)
    x = np.array([0.9, -0.4])

    assert written.gradient
    assert_allclose(written.f(x, written.defaults), built_in.f(x, built_in.defaults))
    assert_allclose(written.fx(x, written.defaults), built_in.fx(x, built_in.defaults))
