"""Systems from equations, energies and callables: derivatives and bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
import sympy
from numpy.testing import assert_allclose

from bifurc import InputError, ModelError, System, UserFunctionError

RNG_SEED = 20240611

BRATU = (
    {"x": "-2*x + y + a*exp(x)", "y": "x - 2*y + a*exp(y)"},
    ["x", "y"],
    {"a": 0.2},
)
PREDATOR_PREY = (
    ["3*u1*(1 - u1) - u1*u2 - p*(1 - exp(-5*u1))", "-u2 + 3*u1*u2"],
    ["u1", "u2"],
    {"p": 0.5},
)
ENZYME = (
    [
        "(s0 - s1) + (s2 - s1) - rho*s1/(1 + s1 + kappa*s1**2)",
        "(s0 - s2) + (s1 - s2) - rho*s2/(1 + s2 + kappa*s2**2)",
    ],
    ["s1", "s2"],
    {"s0": 20.0, "rho": 100.0, "kappa": 1.0},
)
EVERY_FUNCTION = (
    [
        "sin(a*x)*cos(y) + tan(z/4) - sqrt(1 + x**2)*log(2 + y**2)",
        "tanh(b*x*y) + cosh(z/3)/sinh(2 + x**2) + abs(x - 5)**3",
        "exp(-(x - a)**2/2)*z**3 - b**2*y + 2/3*x*z",
    ],
    ["x", "y", "z"],
    {"a": 0.7, "b": -1.3},
)
SYSTEMS = {
    "bratu": BRATU,
    "predator_prey": PREDATOR_PREY,
    "enzyme": ENZYME,
    "every_function": EVERY_FUNCTION,
}


def _build(key):
    equations, variables, parameters = SYSTEMS[key]
    return System.from_equations(equations, variables, parameters)


def _random_points(system, count=4):
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(count):
        x = rng.uniform(0.1, 1.5, system.n)
        p = system.defaults * rng.uniform(0.5, 1.5, system.m)
        yield x, p


def _derivative(func, t0=0.0, h=1e-3):
    """Five-point central difference of a scalar-argument function at t0."""
    weights = {-2: 1, -1: -8, 1: 8, 2: -1}
    return sum(w * np.asarray(func(t0 + k * h)) for k, w in weights.items()) / (12 * h)


def _assert_close(actual, expected, rtol=1e-7):
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


# ----------------------------------------------------------------------
# Exact derivatives


@pytest.mark.parametrize("key", list(SYSTEMS))
def test_jacobian_matches_finite_differences(key):
    system = _build(key)
    for x, p in _random_points(system):
        for j in range(system.n):
            step = np.eye(system.n)[j]
            expected = _derivative(lambda t, s=step, x=x, p=p: system.f(x + t * s, p))
            _assert_close(system.fx(x, p)[:, j], expected)


@pytest.mark.parametrize("key", list(SYSTEMS))
def test_parameter_derivative_matches_finite_differences(key):
    system = _build(key)
    for x, p in _random_points(system):
        for k in range(system.m):
            step = np.eye(system.m)[k]
            expected = _derivative(lambda t, s=step, x=x, p=p: system.f(x, p + t * s))
            _assert_close(system.fp(x, p, k), expected)
            _assert_close(system.param_jacobian(x, p)[:, k], expected)


def _first_derivative(system, x, p, k, u):
    """(f_x u_x + f_pk u_p) at (x, p): exact first derivative along u."""
    return system.fx(x, p) @ u[:-1] + system.fp(x, p, k) * u[-1]


@pytest.mark.parametrize("key", list(SYSTEMS))
def test_second_derivative_matches_differences_of_the_jacobian(key):
    system = _build(key)
    rng = np.random.default_rng(RNG_SEED + 1)
    for x, p in _random_points(system, count=3):
        for k in range(system.m):
            u, v = rng.standard_normal((2, system.n + 1))

            def along_v(t, x=x, p=p, k=k, u=u, v=v):
                shifted = np.array(p)
                shifted[k] += t * v[-1]
                return _first_derivative(system, x + t * v[:-1], shifted, k, u)

            _assert_close(system.fxx(x, p, k, u, v), _derivative(along_v))


def test_second_derivative_is_symmetric_and_bilinear():
    system = _build("every_function")
    rng = np.random.default_rng(RNG_SEED + 2)
    x, p = next(_random_points(system))
    u, v, w = rng.standard_normal((3, system.n + 1))
    _assert_close(system.fxx(x, p, 1, u, v), system.fxx(x, p, 1, v, u), 1e-12)
    _assert_close(
        system.fxx(x, p, 1, 2 * u + w, v),
        2 * system.fxx(x, p, 1, u, v) + system.fxx(x, p, 1, w, v),
        1e-12,
    )


def test_second_derivative_of_a_normal_form_in_closed_form():
    system = System.from_equations(["p*x - x**3"], ["x"], {"p": 0.0})
    x, p = np.array([0.4]), np.array([0.25])
    u, v = np.array([1.0, 2.0]), np.array([-3.0, 0.5])
    # f_xx = -6x, f_xp = 1, f_pp = 0.
    expected = -6 * 0.4 * u[0] * v[0] + u[0] * v[1] + u[1] * v[0]
    assert_allclose(system.fxx(x, p, 0, u, v), [expected], rtol=1e-15)


def test_values_match_hand_written_functions():
    system = _build("predator_prey")
    for x, p in _random_points(system):
        u1, u2 = x
        expected = [
            3 * u1 * (1 - u1) - u1 * u2 - p[0] * (1 - np.exp(-5 * u1)),
            -u2 + 3 * u1 * u2,
        ]
        assert_allclose(system.f(x, p), expected, rtol=1e-14)


def test_abs_is_differentiated_away_from_zero():
    system = System.from_equations(["abs(x)**3 - abs(x)*p"], ["x"], {"p": 1.0})
    for x0 in (-0.7, 0.9):
        x, p = np.array([x0]), np.array([1.5])
        assert_allclose(system.fx(x, p), [[3 * x0 * abs(x0) - np.sign(x0) * 1.5]])
        u = np.array([1.0, 0.0])
        assert_allclose(system.fxx(x, p, 0, u, u), [6 * abs(x0)], rtol=1e-14)


# ----------------------------------------------------------------------
# Shapes


def test_constant_entries_have_the_right_shapes():
    system = System.from_equations(["1", "2*y", "x"], ["x", "y", "z"], {"a": 1.0})
    x, p = np.array([1.0, 2.0, 3.0]), np.array([1.0])
    assert_allclose(system.f(x, p), [1.0, 4.0, 1.0])
    assert_allclose(system.fx(x, p), [[0, 0, 0], [0, 2, 0], [1, 0, 0]])
    assert system.param_jacobian(x, p).shape == (3, 1)
    assert_allclose(system.fxx(x, p, 0, np.ones(4), np.ones(4)), np.zeros(3))
    assert system.f(x, p).dtype == float


def test_several_points_at_once():
    system = _build("bratu")
    points = np.array([[0.1, 0.2, 0.3], [0.5, -0.4, 0.0]])
    p = system.defaults
    values = system.f(points, p)
    jacobians = system.fx(points, p)
    assert values.shape == (2, 3)
    assert jacobians.shape == (2, 2, 3)
    for j in range(3):
        assert_allclose(values[:, j], system.f(points[:, j], p), rtol=1e-15)
        assert_allclose(jacobians[:, :, j], system.fx(points[:, j], p), rtol=1e-15)


def test_system_without_parameters():
    system = System.from_equations(["-x + y", "-y"], ["x", "y"], {})
    x = np.array([1.0, 2.0])
    assert_allclose(system.f(x, np.zeros(0)), [1.0, -2.0])
    assert system.param_jacobian(x, np.zeros(0)).shape == (2, 0)


def test_integer_state_is_evaluated_in_floating_point():
    system = System.from_equations(["x**-2"], ["x"], {})
    assert_allclose(system.f(np.array([2]), np.zeros(0)), [0.25])


# ----------------------------------------------------------------------
# Sympy input and names


def test_sympy_expressions_are_accepted_in_any_symbols():
    x, p = sympy.symbols("x p")  # not declared real: adopted by name
    system = System.from_equations([p * x - x**3], ["x"], {"p": 0.5})
    assert_allclose(system.f([2.0], [0.5]), [-7.0])
    assert system.expressions["rhs"][0].free_symbols == set(
        system.expressions["x"]
    ) | set(system.expressions["p"])


def test_strings_and_sympy_give_the_same_system():
    x, p = sympy.symbols("x p", real=True)
    from_text = System.from_equations(["p*x - x**3/3"], ["x"], {"p": 1.0})
    from_sympy = System.from_equations([p * x - x**3 / 3], ["x"], {"p": 1.0})
    assert from_text.expressions["rhs"] == from_sympy.expressions["rhs"]


def test_variables_given_by_number():
    system = System.from_equations(["-x0 + x1", "-x1"], 2, {})
    assert system.variables == ("x0", "x1")


def test_expressions_are_recorded():
    system = _build("bratu")
    x, y = system.expressions["x"]
    (a,) = system.expressions["p"]
    assert system.expressions["rhs"][0] == -2 * x + y + a * sympy.exp(x)
    assert system.expressions["jacobian"][0, 0] == -2 + a * sympy.exp(x)
    assert system.expressions["energy"] is None


@pytest.mark.parametrize("name", ["exp", "lambda", "__x"])
def test_reserved_names_cannot_be_declared(name):
    with pytest.raises(ModelError, match=f"cannot declare '{name}'"):
        System.from_equations(["-x"], ["x"], {name: 1.0})


def test_names_that_shadow_numpy_still_work():
    system = System.from_equations(["-array + x0", "-x0"], ["array", "x0"], {})
    assert_allclose(system.f([1.0, 2.0], []), [1.0, -2.0])


@pytest.mark.parametrize(
    ("equations", "message"),
    [
        ({"x": "-x"}, r"missing \['y'\]"),
        ({"x": "-x", "y": "-y", "z": "1"}, r"undeclared \['z'\]"),
        (["-x"], "1 equations given for 2 variables"),
        (["-x", "q*y"], "equation for 'y': unknown name 'q'"),
        (["-x", 3j], "must be a string or a sympy expression"),
        (["-x", sympy.Symbol("w")], r"undeclared symbols \['w'\]"),
        (["-x", sympy.Function("g")(sympy.Symbol("y"))], "undefined functions"),
        (["-x", sympy.zoo], "infinite or undefined"),
    ],
)
def test_malformed_equations(equations, message):
    with pytest.raises(ModelError, match=message):
        System.from_equations(equations, ["x", "y"], {"a": 1.0})


def test_parse_error_keeps_its_position():
    with pytest.raises(ModelError) as info:
        System.from_equations(["-x", "y + 2^y"], ["x", "y"], {})
    assert info.value.position == 5
    assert "equation for 'y'" in str(info.value)


@pytest.mark.parametrize(
    ("variables", "parameters", "error", "message"),
    [
        (["x"], ["a"], InputError, "parameters must be a mapping"),
        ("x", {"a": 1}, InputError, "sequence of names"),
        (["x"], {"a": "one"}, InputError, "default of parameter 'a' must be a number"),
        (["x"], {"a": True}, InputError, "default of parameter 'a' must be a number"),
        (["x"], {"a": np.nan}, InputError, "must be finite"),
        (["x"], {"x": 1.0}, InputError, "both as variable and parameter"),
        (["x", "x"], {}, InputError, "repeated names"),
        (["x y"], {}, InputError, "not a valid name"),
    ],
)
def test_bad_names_and_defaults(variables, parameters, error, message):
    with pytest.raises(error, match=message):
        System.from_equations(["-x"] * len(variables), variables, parameters)


# ----------------------------------------------------------------------
# Energies


DOUBLE_WELL = "x**4/4 - a*x**2/2 + b*x*y + y**2/2 + c*x**2*y**2"


def test_energy_gives_a_symmetric_gradient_flow():
    system = System.from_energy(DOUBLE_WELL, ["x", "y"], {"a": 1.0, "b": 0.3, "c": 0.1})
    assert system.gradient
    for x, p in _random_points(system):
        jac = system.fx(x, p)
        assert_allclose(jac, jac.T, rtol=0, atol=1e-14)
        for j in range(system.n):
            step = np.eye(system.n)[j]
            slope = _derivative(lambda t, s=step, x=x, p=p: system.energy(x + t * s, p))
            _assert_close(system.f(x, p)[j], -slope)


def test_energy_hessian_and_morse_index():
    system = System.from_energy("x**4/4 - a*x**2/2 + y**2/2", ["x", "y"], {"a": 1.0})
    p = system.defaults
    # At the saddle (0, 0) the Hessian is diag(-a, 1): one unstable direction.
    assert_allclose(system.fx(np.zeros(2), p), [[1.0, 0.0], [0.0, -1.0]])
    # At the minima (+-1, 0) the Hessian is diag(2a, 1): stable.
    assert np.all(np.linalg.eigvalsh(system.fx(np.array([1.0, 0.0]), p)) < 0)
    assert system.energy(np.array([1.0, 0.0]), p) == pytest.approx(-0.25, rel=1e-15)


def test_energy_from_sympy_and_second_derivative():
    x, a = sympy.symbols("x a")
    system = System.from_energy(x**4 / 4 - a * x**2 / 2, ["x"], {"a": 1.0})
    assert system.expressions["energy"] == sympy.sympify(0) + (
        system.expressions["x"][0] ** 4 / 4
        - system.expressions["p"][0] * system.expressions["x"][0] ** 2 / 2
    )
    u = np.array([1.0, 1.0])
    # f = a x - x**3: f_xx = -6x, f_xa = 1.
    assert_allclose(system.fxx(np.array([0.5]), np.array([1.0]), 0, u, u), [-3.0 + 2.0])


def test_bad_energy():
    with pytest.raises(ModelError, match="energy: unknown name 'q'"):
        System.from_energy("x**2 + q", ["x"], {"a": 1.0})
    with pytest.raises(ModelError, match="energy must be a string"):
        System.from_energy(["x**2"], ["x"], {"a": 1.0})


# ----------------------------------------------------------------------
# Callables


def _cubic(x, p):
    return np.array([p[0] * x[0] - x[0] ** 3, -x[1]])


def _cubic_jacobian(x, p):
    return np.array([[p[0] - 3 * x[0] ** 2, 0.0], [0.0, -1.0]])


def test_callable_with_jacobian():
    system = System.from_callable(
        _cubic, ["x", "y"], {"p": 1.0}, jacobian=_cubic_jacobian
    )
    x = np.array([0.3, 0.2])
    assert_allclose(system.fx(x, system.defaults), _cubic_jacobian(x, system.defaults))
    assert_allclose(
        system.fd_jacobian(x, system.defaults),
        _cubic_jacobian(x, system.defaults),
        rtol=1e-8,
    )


def test_wrong_jacobian_is_named_with_both_values():
    def wrong(x, p):
        jac = _cubic_jacobian(x, p)
        jac[0, 0] += 1.0
        return jac

    message = (
        r"entry \[0, 0\] \(d f\[x\] / d x\): supplied 1.25, finite differences 0.25"
    )
    with pytest.raises(InputError, match=message):
        System.from_callable(_cubic, ["x", "y"], {"p": 1.0}, jacobian=wrong)


def test_jacobian_check_can_be_skipped():
    system = System.from_callable(
        _cubic,
        2,
        {"p": 1.0},
        jacobian=lambda x, p: np.zeros((2, 2)),
        check_jacobian=False,
    )
    assert system.variables == ("x0", "x1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"f": lambda x, p: np.zeros(3)},
            r"f\(x, p\) must return shape \(2,\), got \(3,\)",
        ),
        (
            {"jacobian": lambda x, p: np.zeros((2, 3)), "check_jacobian": False},
            r"jacobian\(x, p\) must return shape \(2, 2\), got \(2, 3\)",
        ),
    ],
)
def test_wrong_shapes_from_callables(kwargs, message):
    arguments = {"f": _cubic} | kwargs
    f = arguments.pop("f")
    system = System.from_callable(f, ["x", "y"], {"p": 1.0}, **arguments)
    with pytest.raises(InputError, match=message):
        system.check_call(np.zeros(2), system.defaults)


def test_wrong_parameter_jacobian_shape():
    system = System.from_callable(
        _cubic, ["x", "y"], {"p": 1.0}, param_jacobian=lambda x, p: np.zeros(2)
    )
    with pytest.raises(InputError, match=r"param_jacobian\(x, p\) must return shape"):
        system.fp(np.zeros(2), system.defaults, 0)


def test_user_exception_is_chained_with_x_and_p():
    def failing(x, p):
        raise ZeroDivisionError("no way")

    system = System.from_callable(failing, ["x", "y"], {"gain": 2.5})
    with pytest.raises(UserFunctionError) as info:
        system.check_call(np.array([1.0, -2.0]), system.defaults)
    message = str(info.value)
    assert "ZeroDivisionError: no way" in message
    assert "'x': 1.0" in message and "'y': -2.0" in message
    assert "'gain': 2.5" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_jacobian_check_is_skipped_where_f_fails():
    def only_positive(x, p):
        if np.any(x > 0.4):
            raise ValueError("outside the domain")
        return -x

    system = System.from_callable(
        only_positive, ["x"], {"p": 1.0}, jacobian=lambda x, p: -np.eye(1)
    )
    assert_allclose(system.fx(np.array([0.1]), system.defaults), [[-1.0]])


def test_not_callable():
    with pytest.raises(InputError, match="f must be callable"):
        System.from_callable(3.0, ["x"], {"p": 1.0})


def test_sparse_jacobian_passes_through():
    system = System.from_callable(
        _cubic,
        ["x", "y"],
        {"p": 1.0},
        jacobian=lambda x, p: sp.csr_matrix(_cubic_jacobian(x, p)),
        sparse=True,
    )
    jac = system.fx(np.array([0.3, 0.2]), system.defaults)
    assert sp.issparse(jac)
    assert_allclose(
        jac.toarray(), _cubic_jacobian(np.array([0.3, 0.2]), system.defaults)
    )


def test_energy_callable_returns_a_float():
    system = System.from_callable(
        lambda x, p: -x, ["x"], {"p": 1.0}, energy=lambda x, p: np.array([x @ x / 2])
    )
    assert system.gradient
    assert system.energy(np.array([2.0]), system.defaults) == 2.0


def test_finite_differences_are_relative_to_the_magnitude():
    # A variable of size 1e6 with an absolute step would lose every digit.
    def f(x, p):
        return np.array([np.log(x[0]) - p[0]])

    system = System.from_callable(f, ["x"], {"p": 1.0})
    for x0 in (1e-1, 1e6, 1e12):
        jac = system.fd_jacobian(np.array([x0]), system.defaults)
        assert_allclose(jac, [[1 / x0]], rtol=1e-8)


def test_finite_differences_use_the_box_scale_for_small_variables():
    def f(x, p):
        return np.array([np.sin(x[0] * 1e6)])

    boxed = System.from_callable(f, ["x"], {"p": 1.0}, box=(-1e-6, 1e-6))
    jac = boxed.fd_jacobian(np.array([0.0]), boxed.defaults)
    assert_allclose(jac, [[1e6]], rtol=1e-8)


# ----------------------------------------------------------------------
# Names, parameters and states


def test_unknown_parameter_suggests_the_closest():
    system = _build("enzyme")
    with pytest.raises(
        InputError, match=r"unknown parameter 'kapa'.*did you mean 'kappa'"
    ):
        system.param_index("kapa")
    with pytest.raises(InputError, match=r"\['s0', 'rho', 'kappa'\]"):
        system.with_params(rh=3.0)
    with pytest.raises(InputError, match="did you mean 's1'"):
        system.variable_index("s_1")


def test_with_params_and_parameter_vector():
    system = _build("enzyme").with_params(s0=30.0)
    assert system.params == {"s0": 30.0, "rho": 100.0, "kappa": 1.0}
    assert_allclose(system.parameter_vector({"kappa": 2.0}), [30.0, 100.0, 2.0])
    with pytest.raises(InputError, match="'rho' is inf"):
        system.parameter_vector({"rho": np.inf})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_state_is_refused(bad):
    system = _build("bratu")
    with pytest.raises(InputError, match=f"x0 must be finite; component 'y' is {bad}"):
        system.check_state([0.0, bad])


def test_state_of_the_wrong_shape_is_refused():
    system = _build("bratu")
    with pytest.raises(
        InputError, match=r"x0 must have shape \(2,\).*got shape \(3,\)"
    ):
        system.check_state([0.0, 1.0, 2.0])


def test_check_call_refuses_bad_parameter_vectors():
    system = _build("bratu")
    with pytest.raises(InputError, match=r"p must have shape \(1,\)"):
        system.check_call(np.zeros(2), np.zeros(2))


def test_box_is_validated():
    with pytest.raises(InputError, match="lower corner must be below"):
        System.from_equations(["-x"], ["x"], {}, box=(1.0, 0.0))
    with pytest.raises(InputError, match="box must be"):
        System.from_equations(["-x"], ["x"], {}, box=(0.0, 1.0, 2.0))
    system = System.from_equations(["-x", "-y"], ["x", "y"], {}, box=(-1, [2, 3]))
    assert_allclose(system.box[0], [-1, -1])
    assert_allclose(system.box[1], [2, 3])


def test_repr_is_short():
    system = System.from_energy("x**2", ["x"], {"a": 1.0}, name="bowl")
    assert (
        repr(system)
        == "System('bowl', gradient flow, variables=['x'], parameters={'a': 1.0})"
    )
