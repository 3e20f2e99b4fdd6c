"""Model files: a `System` described in TOML, read as data.

A model file declares the state variables, the parameters with their default
values, and either one equation per variable or an energy::

    name = "pitchfork"
    description = "Normal form of the pitchfork bifurcation"
    variables = ["x"]

    [parameters]
    p = -1.0

    [equations]
    x = "p*x - x**3"

    [box]            # optional: where rest points are searched
    lower = -2.0
    upper = [2.0]

With ``energy = "x**4/4 - p*x**2/2"`` instead of ``[equations]`` the model
is the gradient flow x' = -grad E.  The file is read with the standard
library's ``tomllib`` and its strings with `bifurc._parser`; nothing in it
is executed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path

from ._errors import InputError, ModelError
from ._system import System

__all__ = ["load_model", "model_from_toml"]

_REQUIRED = ("variables", "parameters")
_OPTIONAL = ("equations", "energy", "name", "description", "box")

# A model file larger than this is not a hand-written model.
_MAX_FILE_BYTES = 2_000_000
# tomllib's memory grows with the square of the number of parts of a dotted
# key (a.b.c...), so keys are limited to this many dots before parsing.
_MAX_KEY_DOTS = 64


def load_model(path, **overrides):
    """Read a model file and build its `System`.

    Parameters
    ----------
    path : str or os.PathLike
        A TOML model file (format in the module docstring and the README).
    **overrides : float
        New default values for some parameters, by name.

    Returns
    -------
    System

    Raises
    ------
    ModelError
        Naming the file and the problem: unreadable file, TOML syntax error
        (with line and column), missing or unknown keys, both or neither of
        ``equations`` and ``energy``, non-numeric defaults, or an equation
        outside the grammar (with the offending name and position).
    InputError
        For an override naming an unknown parameter (with the closest name).

    Examples
    --------
    >>> system = bifurc.load_model("pitchfork.toml", p=0.5)  # doctest: +SKIP
    """
    path = Path(path)

    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ModelError(
                f"{path}: the model file is larger than {_MAX_FILE_BYTES} bytes",
                source=str(path),
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path}: cannot read the model file: {exc}", source=str(path)
        ) from exc

    return model_from_toml(text, source=str(path), **overrides)


def model_from_toml(text, *, source="<string>", **overrides):
    """Build a `System` from the text of a model file.

    Parameters
    ----------
    text : str
        TOML text in the model-file format.
    source : str
        Name of the file (or other origin) used in error messages.
    **overrides : float
        New default values for some parameters, by name.

    Returns
    -------
    System
    """
    _check_key_depth(text, source)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: TOML syntax error: {exc}", source=source) from exc
    except RecursionError as exc:
        raise ModelError(
            f"{source}: arrays or tables nest too deeply", source=source
        ) from exc

    _check_keys(table, source)
    variables = _variables(table["variables"], source)
    parameters = _parameters(table["parameters"], source)
    options = {
        "name": _text(table, "name", source),
        "description": _text(table, "description", source),
        "box": _box(table.get("box"), source),
    }

    system = _build(table, variables, parameters, options, source)
    return system.with_params(**overrides) if overrides else system


def _check_key_depth(text, source):
    """Refuse keys and table headers with more than `_MAX_KEY_DOTS` dots."""
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.partition("=")[0]
        if key.count(".") > _MAX_KEY_DOTS:
            raise ModelError(
                f"{source}: the key on line {number} has more than "
                f"{_MAX_KEY_DOTS} dotted parts",
                source=source,
            )


def _check_keys(table, source):
    """Refuse unknown, missing and contradictory top-level keys."""
    unknown = sorted(set(table) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ModelError(
            f"{source}: unknown keys {unknown}; a model file has "
            f"{list(_REQUIRED + _OPTIONAL)}",
            source=source,
        )

    missing = [key for key in _REQUIRED if key not in table]
    if missing:
        raise ModelError(f"{source}: missing required keys {missing}", source=source)

    given = [key for key in ("equations", "energy") if key in table]
    if len(given) != 1:
        state = "both" if given else "neither"
        raise ModelError(
            f"{source}: a model needs exactly one of [equations] and energy, "
            f"found {state}",
            source=source,
        )


def _variables(value, source):
    if not isinstance(value, list) or not value:
        raise ModelError(
            f"{source}: variables must be a non-empty list of names, got {value!r}",
            source=source,
        )

    if not all(isinstance(v, str) for v in value):
        raise ModelError(
            f"{source}: variables must be strings, got {value!r}", source=source
        )
    return value


def _parameters(value, source):
    if not isinstance(value, Mapping):
        raise ModelError(
            f"{source}: [parameters] must be a table of name = default value, "
            f"got {value!r}",
            source=source,
        )

    for key, default in value.items():
        numeric = isinstance(default, int | float) and not isinstance(default, bool)
        if not numeric or not math.isfinite(default):
            raise ModelError(
                f"{source}: parameter {key!r} needs a finite number as default, "
                f"got {default!r}",
                source=source,
            )
    return dict(value)


def _text(table, key, source):
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ModelError(
            f"{source}: {key} must be a string, got {value!r}", source=source
        )
    return value


def _box(value, source):
    """The optional ``[box]`` table as (lower, upper)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"lower", "upper"}:
        raise ModelError(
            f"{source}: [box] must be a table with exactly the keys lower and "
            f"upper, got {value!r}",
            source=source,
        )
    return value["lower"], value["upper"]


def _build(table, variables, parameters, options, source):
    """Parse the equations or energy, naming the file in any error."""
    equations = table.get("equations")
    if equations is not None and not isinstance(equations, Mapping):
        raise ModelError(
            f'{source}: [equations] must be a table of variable = "expression"',
            source=source,
        )

    for key, value in (equations or {"energy": table.get("energy")}).items():
        if not isinstance(value, str):
            raise ModelError(
                f"{source}: the expression for {key!r} must be a string, got {value!r}",
                source=source,
            )

    try:
        if equations is not None:
            return System.from_equations(equations, variables, parameters, **options)
        return System.from_energy(table["energy"], variables, parameters, **options)
    except ModelError as exc:
        raise ModelError(
            f"{source}: {exc}", position=exc.position, source=source
        ) from None
    except InputError as exc:
        raise ModelError(f"{source}: {exc}", source=source) from None
