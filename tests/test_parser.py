"""The restricted expression parser: grammar, errors, and hostile input."""

import ast
import builtins
import cmath
import inspect
import tempfile
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bifurc._parser as parser_module
from bifurc import ModelError
from bifurc._parser import MAX_DEPTH, MAX_LENGTH, MAX_NESTING, parse_expression

x, y, p = sympy.symbols("x y p", real=True)
SYMBOLS = {"x": x, "y": y, "p": p}

# Generous wall-clock bound per input: a hang, not a slow parse, is the fault.
FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)


def parse(text):
    return parse_expression(text, SYMBOLS)


# ----------------------------------------------------------------------
# Correct parses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x", x),
        ("x + y*p", sympy.Add(x, sympy.Mul(y, p))),
        ("x - y - p", sympy.Add(x, -y, -p)),
        ("x/y/p", sympy.Mul(x, sympy.Pow(y, -1), sympy.Pow(p, -1))),
        ("x/y*p", sympy.Mul(x, p, sympy.Pow(y, -1))),
        ("-x**2", -sympy.Pow(x, 2)),
        ("(-x)**2", sympy.Pow(-x, 2)),
        ("x**y**p", sympy.Pow(x, sympy.Pow(y, p))),
        ("(x**y)**p", sympy.Pow(sympy.Pow(x, y), p)),
        ("2**-x**2", sympy.Pow(2, -sympy.Pow(x, 2))),
        ("x**-1", sympy.Pow(x, -1)),
        ("-x*y", sympy.Mul(-1, x, y)),
        ("--x", x),
        ("+x", x),
        ("x*-y", sympy.Mul(-1, x, y)),
        ("2*x + 3", sympy.Add(sympy.Mul(2, x), 3)),
        ("x - (y - p)", sympy.Add(x, -y, p)),
        ("  x\t+\ny ", x + y),
        ("exp(x)", sympy.exp(x)),
        ("log(x)", sympy.log(x)),
        ("sqrt(x)", sympy.sqrt(x)),
        ("sin(x) + cos(y) + tan(p)", sympy.sin(x) + sympy.cos(y) + sympy.tan(p)),
        ("tanh(x)*cosh(y)*sinh(p)", sympy.tanh(x) * sympy.cosh(y) * sympy.sinh(p)),
        ("abs(x)", sympy.Abs(x)),
        ("exp (x)", sympy.exp(x)),
        ("exp(-x**2/2)", sympy.exp(-(x**2) / 2)),
        ("p*x*(1 - x) - y", p * x * (1 - x) - y),
    ],
)
def test_parses_to_the_hand_built_expression(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2/3", sympy.Rational(2, 3)),
        ("0.1", sympy.Rational(1, 10)),
        ("1.", sympy.Integer(1)),
        (".25", sympy.Rational(1, 4)),
        ("1e-3", sympy.Rational(1, 1000)),
        ("2.5E+2", sympy.Integer(250)),
        ("1/3 + 1/6", sympy.Rational(1, 2)),
        ("2**3**2", sympy.Integer(512)),
        ("2**-2", sympy.Rational(1, 4)),
        ("4**0.5", sympy.Integer(2)),
        ("-2**2", sympy.Integer(-4)),
        ("007", sympy.Integer(7)),
    ],
)
def test_numbers_are_exact_rationals(text, value):
    result = parse(text)
    assert result == value
    assert isinstance(result, sympy.Rational)


def test_decimal_coefficients_stay_exact():
    expr = parse("0.1*x + 0.2*x")
    assert expr == sympy.Rational(3, 10) * x
    assert parse("x/3").coeff(x) == sympy.Rational(1, 3)


def test_symbols_are_the_ones_given():
    expr = parse("x*y")
    assert expr.free_symbols == {x, y}
    assert all(s.is_real for s in expr.free_symbols)


# ----------------------------------------------------------------------
# Errors, with positions


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("x^2", 1, r"'\^' is not an operator; write \*\*"),
        ("exp(x, y)", 5, "exactly one argument"),
        ("x.real", 1, "attribute access"),
        ("().__class__", 2, "attribute access"),
        ("__import__('os')", 0, "double underscores"),
        ("x + __builtins__", 4, "double underscores"),
        ("lambda: 1", 0, "unknown name 'lambda'"),
        ("import os", 0, "unknown name 'import'"),
        ("foo(x)", 0, "unknown function 'foo'"),
        ("eval(x)", 0, "unknown function 'eval'"),
        ("x + z", 4, "unknown name 'z'"),
        ("x y", 2, "expected an operator"),
        ("2x", 1, r"write \* for multiplication"),
        ("(x", 0, r"unclosed '\('"),
        ("x)", 1, r"unmatched '\)'"),
        ("()", 1, "empty parentheses"),
        ("x + ()", 5, "empty parentheses"),
        ("exp", 0, "needs an argument in parentheses"),
        ("x(2)", 0, "'x' is not a function"),
        ("x +", 3, "ends where a value is expected"),
        ("* x", 0, r"expected a value before '\*'"),
        ("x ** * y", 5, r"expected a value before '\*'"),
        ("x // y", 3, r"expected a value before '/'"),
        ("x = 1", 2, "'=' is not allowed"),
        ("x[0]", 1, "brackets"),
        ("'x'", 0, "strings"),
        ("x; y", 1, "one expression"),
        ("x % y", 2, "'%' is not an operator"),
        ("x # comment", 2, "unexpected character '#'"),
        ("1.2.3", 3, "expected an operator"),
        ("x\u00b2", 1, "unexpected character"),
        ("\u0661 + x", 0, "unexpected character"),
        ("1/0", 1, "division by zero"),
        ("x/(2 - 2)", 1, "division by zero"),
        ("log(0)", 0, "infinite or undefined"),
        ("sqrt(-1)", 0, "not a real number"),
        ("x + log(-2)", 4, "not a real number"),
        ("(-8)**(1/3)", 4, "not a real number"),
        ("1e400", 0, "beyond the floating-point range"),
        ("x*1e999999999", 2, "too long or too large"),
        ("1" * 400, 0, "too long or too large"),
        ("10**10**10", 2, "too large to evaluate"),
        ("2**2000", 1, "too large to evaluate"),
        ("x + 10.0**400", 8, "too large to evaluate"),
        ("1e300*1e300", 5, "beyond the floating-point range"),
    ],
)
def test_errors_name_the_position_and_reason(text, position, reason):
    with pytest.raises(ModelError, match=reason) as info:
        parse(text)
    assert info.value.position == position
    assert info.value.source == text


def test_error_message_shows_a_caret_under_the_problem():
    with pytest.raises(ModelError) as info:
        parse("p*x - q")
    lines = str(info.value).splitlines()
    assert lines[1].strip() == "p*x - q"
    assert lines[2].index("^") - lines[1].index("p") == 6


def test_unknown_name_suggests_the_closest_declared_one():
    symbols = {"alpha": sympy.Symbol("alpha"), "beta": sympy.Symbol("beta")}
    with pytest.raises(ModelError, match="did you mean 'alpha'"):
        parse_expression("alpah*2", symbols)


def test_non_string_is_refused():
    with pytest.raises(ModelError, match="must be a string"):
        parse_expression(b"x", SYMBOLS)


def test_long_expressions_are_refused_at_the_cap():
    with pytest.raises(ModelError, match="characters long") as info:
        parse("x" + "+x" * MAX_LENGTH)
    assert info.value.position == MAX_LENGTH


def test_long_flat_sums_are_allowed():
    text = "+".join(["x", "y", "1"] * 10_000)
    assert len(text) < MAX_LENGTH
    assert parse(text) == 10_000 * x + 10_000 * y + 10_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1), "parentheses nest"),
        ("exp(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), "nested deeper"),
        ("-" * (MAX_DEPTH + 1) + "x", "nested deeper"),
        ("x**" * (MAX_DEPTH + 1) + "x", "nested deeper"),
        ("(x*(y+" * MAX_DEPTH + "p" + "))" * MAX_DEPTH, "nested deeper"),
    ],
)
def test_deep_nesting_is_refused(text, reason):
    with pytest.raises(ModelError, match=reason):
        parse(text)


def test_nesting_just_below_the_caps_parses():
    assert parse("(" * MAX_NESTING + "x" + ")" * MAX_NESTING) == x
    expr = parse("exp(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1))
    assert sympy.count_ops(expr) == MAX_DEPTH - 1


def test_symbolic_powers_with_large_exponents_stay_unevaluated():
    assert parse("x**(10**300)") == sympy.Pow(x, sympy.Integer(10) ** 300)


# ----------------------------------------------------------------------
# Nothing is executed


def test_the_parser_module_never_evaluates_text():
    # Inspect the parser's own source: no name or attribute refers to an
    # evaluating function (re.compile, which compiles a fixed regular
    # expression, aside).
    tree = ast.parse(inspect.getsource(parser_module))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and ast.unparse(node) != "re.compile"
    }
    forbidden = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__"}
    assert not names & forbidden


HOSTILE = [
    "__import__('os').system('echo hacked')",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 0",
    "import os",
    "exec('1')",
    "eval('1')",
    "open('/etc/passwd').read()",
    "x.__class__",
    "x if y else p",
    "[x for x in ()]",
    "{}",
    "x; import os",
    "globals()",
    "Symbol('x')",
    "sympify('x')",
    "S('x')",
    "Integer(2)**Integer(2)",
    "E**x",
    "pi",
    "I*x",
    "oo",
    "9**9**9**9",
    "10**10**10**10**10",
    "(1e308)**(1e308)",
    "2**(2**(2**(2**(2**(2**2)))))",
    "x**(1/0)",
    "(" * 100_000,
    ")" * 100_000,
    "-" * 99_999 + "x",
    "1" * 99_999,
    "x**" * 30_000 + "x",
    "exp(" * 20_000 + "x" + ")" * 20_000,
]


# Inside the grammar, however extreme: these parse, unevaluated.
EXTREME_BUT_VALID = {
    "sqrt(-x)**(1/3)": sympy.Pow(-x, sympy.Rational(1, 6)),
    "x**(2**1000)": sympy.Pow(x, sympy.Integer(2) ** 1000),
    "1e-400*x": x / sympy.Integer(10) ** 400,
}


@pytest.mark.parametrize("text", list(EXTREME_BUT_VALID))
def test_extreme_but_valid_inputs_parse_unevaluated(text):
    assert parse(text) == EXTREME_BUT_VALID[text]


def _sentinel_payloads(path):
    """Strings that, if executed by Python or sympify, would create `path`."""
    call = f"__import__('pathlib').Path({str(path)!r}).touch()"
    return [
        call,
        f"x + {call}",
        f"exp({call})",
        f"(lambda: {call})()",
        f"[{call}]",
        f"Function('f')(x).__class__.__init__.__globals__ and {call}",
    ]


class _Recorder:
    """Stand-ins for the evaluating built-ins that record any call."""

    def __init__(self):
        self.calls = []

    def install(self, monkeypatch):
        monkeypatch.setattr(sympy, "sympify", self._make("sympify"))
        monkeypatch.setattr(sympy, "parse_expr", self._make("parse_expr"))
        for name in ("eval", "exec", "compile"):
            monkeypatch.setattr(builtins, name, self._make(name))

    def _make(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args))
            raise AssertionError(f"{name} called during parsing")

        return record


@pytest.fixture
def sentinel(tmp_path):
    path = tmp_path / "executed"
    yield path
    assert not path.exists()


def _parses_or_refuses(text):
    try:
        expr = parse(text)
    except ModelError as exc:
        assert exc.position is not None
        assert 0 <= exc.position <= len(text)
        return None
    assert isinstance(expr, sympy.Expr)
    assert expr.free_symbols <= {x, y, p}
    return expr


def test_hostile_inputs_are_refused_and_nothing_runs(monkeypatch, sentinel):
    recorder = _Recorder()
    outcomes = []
    for text in HOSTILE + _sentinel_payloads(sentinel):
        with monkeypatch.context() as patch:
            recorder.install(patch)
            try:
                parse(text)
                outcomes.append((text[:40], "parsed"))
            except ModelError:
                outcomes.append((text[:40], "refused"))
    assert recorder.calls == []
    assert all(outcome == "refused" for _, outcome in outcomes), outcomes
    assert not sentinel.exists()


@FUZZ_SETTINGS
@given(text=st.text(max_size=200))
def test_fuzz_arbitrary_text(text):
    _parses_or_refuses(text)


ALPHABET = "xyp0123456789.eE+-*/() \t^,_[]'\"=abcdfgilnorst"


@FUZZ_SETTINGS
@given(text=st.text(alphabet=ALPHABET, max_size=300))
def test_fuzz_text_close_to_the_grammar(text):
    _parses_or_refuses(text)


@st.composite
def hostile_text(draw):
    pieces = st.sampled_from(
        HOSTILE[:26]
        + [
            "x",
            "**",
            "(",
            ")",
            "exp(",
            "-",
            "+",
            "9",
            "1e308",
            "__",
            ".",
            "lambda",
            "import",
        ]
    )
    parts = draw(st.lists(pieces, max_size=30))
    repeat = draw(st.integers(min_value=1, max_value=300))
    return "".join(parts) * repeat


@FUZZ_SETTINGS
@given(text=hostile_text())
def test_fuzz_hostile_combinations(text):
    _parses_or_refuses(text[:MAX_LENGTH])


@st.composite
def expressions(draw, depth=0):
    """A random sympy expression from the grammar's operations."""
    leaves = st.one_of(
        st.sampled_from([x, y, p]),
        st.integers(min_value=0, max_value=12).map(sympy.Integer),
        st.fractions(max_denominator=9).map(
            lambda f: sympy.Rational(f.numerator, f.denominator)
        ),
    )
    if depth >= 4 or draw(st.integers(min_value=0, max_value=4)) == 0:
        return draw(leaves)
    kind = draw(st.sampled_from(["add", "sub", "mul", "div", "pow", "neg", "func"]))
    left = draw(expressions(depth + 1))
    if kind == "neg":
        return -left
    if kind == "func":
        name = draw(st.sampled_from(sorted(parser_module.FUNCTIONS)))
        return parser_module.FUNCTIONS[name](left)
    right = draw(expressions(depth + 1))
    if kind == "pow":
        right = draw(st.integers(min_value=-3, max_value=3).map(sympy.Integer))
    operation = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b if b != 0 else a,
        "pow": lambda a, b: a**b if a != 0 else a,
    }[kind]
    return operation(left, right)


@FUZZ_SETTINGS
@given(expr=expressions())
def test_round_trip_through_sympy_printing(expr):
    # sympy prints with the minimal parentheses of the usual precedence, so
    # this also checks unary minus, ** associativity and division chains.
    finite = not expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)
    if not finite or expr.has(sympy.E, sympy.pi):
        return
    text = sympy.sstr(expr, order="none").replace("Abs(", "abs(")
    try:
        result = parse(text)
    except ModelError as exc:
        assert "not a real number" in str(exc) or "infinite" in str(exc)
        return
    if result != expr:
        # sympy distributes numbers over sums (2*(x + y) is 2*x + 2*y), so
        # equal expressions can differ in form: compare values instead.
        _assert_same_values(result, expr)


def _assert_same_values(first, second):
    for point in ([0.3, -1.7, 2.9], [1.1, 0.4, -0.6]):
        subs = dict(zip((x, y, p), map(sympy.Rational, map(str, point)), strict=True))
        a, b = (complex(e.evalf(30, subs=subs)) for e in (first, second))
        if cmath.isfinite(a) or cmath.isfinite(b):
            assert abs(a - b) <= 1e-12 * max(1.0, abs(b))


SENTINEL = Path(tempfile.mkdtemp(prefix="bifurc-parser-")) / "executed"


@FUZZ_SETTINGS
@given(
    payload=st.sampled_from(_sentinel_payloads(SENTINEL)),
    prefix=st.text(alphabet=ALPHABET, max_size=20),
    suffix=st.text(alphabet=ALPHABET, max_size=20),
)
def test_fuzz_sentinel_payloads_never_run(payload, prefix, suffix):
    _parses_or_refuses(prefix + payload + suffix)
    assert not SENTINEL.exists()


def test_memory_stays_bounded_for_the_largest_inputs():
    tracemalloc.start()
    try:
        for text in ["x+" * (MAX_LENGTH // 2 - 1) + "x", "(" * MAX_LENGTH]:
            _parses_or_refuses(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20


def test_the_sentinel_detects_execution(tmp_path):
    # The sentinel payload really does create the file when executed, so its
    # absence after parsing means that nothing was executed.
    path = tmp_path / "executed"
    payload = _sentinel_payloads(path)[0]
    builtins.eval(payload)
    assert Path(path).exists()


@pytest.mark.parametrize(
    "text",
    [
        "exp(400000)",
        "exp(exp(exp(exp(exp(1000)))))",
        "sinh(530814137/1329)",
        # sympy's assumption system took 16 s to decide this one is real.
        "-sin(sinh(530814137/1329))",
        "cosh(1000) - cosh(1000)",
    ],
)
def test_constant_function_values_beyond_double_range_are_refused(text):
    with pytest.raises(ModelError, match="floating-point range") as info:
        parse(text)
    assert info.value.position is not None


def test_constant_function_values_within_range_stay_exact():
    assert parse("sin(exp(2))*x") == sympy.sin(sympy.exp(2)) * x
    assert parse("cosh(700)") == sympy.cosh(700)
