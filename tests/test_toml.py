"""Model files in TOML: round trips and every malformation."""

import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bifurc
from bifurc import InputError, ModelError, System

ENZYME_TOML = """\
name = "enzyme"
description = "Two compartments with substrate inhibition"
variables = ["s1", "s2"]

[parameters]
s0 = 20.0
rho = 100
kappa = 1.0

[equations]
s1 = "(s0 - s1) + (s2 - s1) - rho*s1/(1 + s1 + kappa*s1**2)"
s2 = "(s0 - s2) + (s1 - s2) - rho*s2/(1 + s2 + kappa*s2**2)"

[box]
lower = 0.0
upper = [40.0, 50.0]
"""

DOUBLE_WELL_TOML = """\
variables = ["x", "y"]
energy = "x**4/4 - a*x**2/2 + y**2/2"

[parameters]
a = 1.0
"""


def _write(tmp_path, text, name="model.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_equations_file_round_trip(tmp_path):
    system = bifurc.load_model(_write(tmp_path, ENZYME_TOML))
    reference = System.from_equations(
        [
            "(s0 - s1) + (s2 - s1) - rho*s1/(1 + s1 + kappa*s1**2)",
            "(s0 - s2) + (s1 - s2) - rho*s2/(1 + s2 + kappa*s2**2)",
        ],
        ["s1", "s2"],
        {"s0": 20.0, "rho": 100.0, "kappa": 1.0},
    )
    assert system.name == "enzyme"
    assert system.description.startswith("Two compartments")
    assert system.variables == ("s1", "s2")
    assert system.params == {"s0": 20.0, "rho": 100.0, "kappa": 1.0}
    assert system.expressions["rhs"] == reference.expressions["rhs"]
    assert_allclose(system.box[0], [0.0, 0.0])
    assert_allclose(system.box[1], [40.0, 50.0])

    x = np.array([1.5, 2.5])
    s1, s2 = x
    expected = 20 - s1 + s2 - s1 - 100 * s1 / (1 + s1 + s1**2)
    assert system.f(x, system.defaults)[0] == pytest.approx(expected, rel=1e-14)


def test_energy_file_round_trip(tmp_path):
    system = bifurc.load_model(_write(tmp_path, DOUBLE_WELL_TOML))
    assert system.gradient
    assert system.name == ""
    assert_allclose(system.f(np.array([2.0, 1.0]), system.defaults), [-6.0, -1.0])
    assert system.energy(np.array([1.0, 0.0]), system.defaults) == pytest.approx(-0.25)


def test_overrides_change_defaults(tmp_path):
    system = bifurc.load_model(_write(tmp_path, ENZYME_TOML), s0=34.0, kappa=2)
    assert system.params == {"s0": 34.0, "rho": 100.0, "kappa": 2.0}


def test_unknown_override_suggests_the_closest(tmp_path):
    path = _write(tmp_path, ENZYME_TOML)
    with pytest.raises(InputError, match="did you mean 'kappa'"):
        bifurc.load_model(path, kapa=2.0)


def test_string_and_file_agree(tmp_path):
    from_file = bifurc.load_model(_write(tmp_path, ENZYME_TOML))
    from_text = System.from_toml_string(ENZYME_TOML)
    assert from_file.expressions["rhs"] == from_text.expressions["rhs"]


def test_path_given_as_string(tmp_path):
    system = bifurc.load_model(str(_write(tmp_path, DOUBLE_WELL_TOML)))
    assert system.variables == ("x", "y")


MALFORMED = {
    "syntax": (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = "p*x\n',
        r"TOML syntax error: .*line 5",
    ),
    "missing_variables": (
        '[parameters]\np = 1.0\n[equations]\nx = "-x"\n',
        r"missing required keys \['variables'\]",
    ),
    "missing_parameters": (
        'variables = ["x"]\n[equations]\nx = "-x"\n',
        r"missing required keys \['parameters'\]",
    ),
    "both": (
        'variables = ["x"]\nenergy = "x**2"\n[parameters]\np = 1.0\n'
        '[equations]\nx = "-x"\n',
        "exactly one of \\[equations\\] and energy, found both",
    ),
    "neither": (
        'variables = ["x"]\n[parameters]\np = 1.0\n',
        "exactly one of \\[equations\\] and energy, found neither",
    ),
    "unknown_key": (
        'variables = ["x"]\nsolver = "fast"\n[parameters]\np = 1.0\n'
        '[equations]\nx = "-x"\n',
        r"unknown keys \['solver'\]",
    ),
    "unknown_symbol": (
        'variables = ["x"]\n[parameters]\nkappa = 1.0\n[equations]\nx = "kapa*x"\n',
        "equation for 'x': unknown name 'kapa'.*did you mean 'kappa'",
    ),
    "code_in_equation": (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\n'
        "x = \"__import__('os').system('true')\"\n",
        "double underscores",
    ),
    "string_default": (
        'variables = ["x"]\n[parameters]\np = "one"\n[equations]\nx = "-x"\n',
        "parameter 'p' needs a finite number as default, got 'one'",
    ),
    "bool_default": (
        'variables = ["x"]\n[parameters]\np = true\n[equations]\nx = "-x"\n',
        "parameter 'p' needs a finite number",
    ),
    "nan_default": (
        'variables = ["x"]\n[parameters]\np = nan\n[equations]\nx = "-x"\n',
        "parameter 'p' needs a finite number",
    ),
    "parameters_not_table": (
        'variables = ["x"]\nparameters = [1.0]\n[equations]\nx = "-x"\n',
        r"\[parameters\] must be a table",
    ),
    "missing_equation": (
        'variables = ["x", "y"]\n[parameters]\np = 1.0\n[equations]\nx = "-x"\n',
        r"missing \['y'\]",
    ),
    "extra_equation": (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = "-x"\ny = "1"\n',
        r"undeclared \['y'\]",
    ),
    "equation_not_string": (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = 3\n',
        "expression for 'x' must be a string, got 3",
    ),
    "energy_not_string": (
        'variables = ["x"]\nenergy = 2\n[parameters]\np = 1.0\n',
        "expression for 'energy' must be a string",
    ),
    "equations_not_table": (
        'variables = ["x"]\nequations = "-x"\n[parameters]\np = 1.0\n',
        r"\[equations\] must be a table",
    ),
    "variables_not_list": (
        'variables = "x"\n[parameters]\np = 1.0\n[equations]\nx = "-x"\n',
        "variables must be a non-empty list",
    ),
    "variables_empty": (
        "variables = []\n[parameters]\np = 1.0\n[equations]\n",
        "variables must be a non-empty list",
    ),
    "variables_not_strings": (
        'variables = [1]\n[parameters]\np = 1.0\n[equations]\nx = "-x"\n',
        "variables must be strings",
    ),
    "reserved_name": (
        'variables = ["exp"]\n[parameters]\np = 1.0\n[equations]\nexp = "-p"\n',
        "cannot declare 'exp'",
    ),
    "shared_name": (
        'variables = ["x"]\n[parameters]\nx = 1.0\n[equations]\nx = "-x"\n',
        "both as variable and parameter",
    ),
    "name_not_string": (
        'variables = ["x"]\nname = 3\n[parameters]\np = 1.0\n[equations]\nx = "-x"\n',
        "name must be a string",
    ),
    "bad_box_keys": (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = "-x"\n'
        "[box]\nlow = 0\nupper = 1\n",
        r"\[box\] must be a table with exactly the keys lower and upper",
    ),
    "inverted_box": (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = "-x"\n'
        "[box]\nlower = 1\nupper = 0\n",
        "lower corner must be below",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_name_the_file_and_the_problem(tmp_path, case):
    text, message = MALFORMED[case]
    path = _write(tmp_path, text, name=f"{case}.toml")
    with pytest.raises(ModelError, match=message) as info:
        bifurc.load_model(path)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.source == str(path)


def test_unknown_symbol_keeps_its_position(tmp_path):
    text = (
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = "p*x - x**3 + w"\n'
    )
    with pytest.raises(ModelError) as info:
        bifurc.load_model(_write(tmp_path, text))
    assert info.value.position == len("p*x - x**3 + ")


def test_missing_file(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ModelError, match="cannot read the model file") as info:
        bifurc.load_model(path)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_file_that_is_not_text(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00variables")
    with pytest.raises(ModelError, match="cannot read the model file"):
        bifurc.load_model(path)


def test_syntax_error_from_a_string_names_the_source():
    with pytest.raises(ModelError, match="^notes.toml: TOML syntax error"):
        System.from_toml_string("variables = [", source="notes.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a" + ".a" * 10_000 + " = 1\n", "more than 64 dotted parts"),
        ("[" + "a." * 10_000 + "a]\n", "more than 64 dotted parts"),
        ("x = " + "[" * 100_000 + "\n", "nest too deeply"),
        ("x = " + "{a = " * 100_000 + "\n", "nest too deeply"),
    ],
)
def test_hostile_toml_is_refused_cheaply(text, message):
    with pytest.raises(ModelError, match=message):
        System.from_toml_string(text)
