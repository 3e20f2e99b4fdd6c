"""Built-in models, each a constructor returning a `bifurc.System`, and their registry.

The registry gives every model a name for the command line with a default
instance: ``available()`` lists the entries, ``get(name)`` returns one, and
``entry.build(**options)`` the `System`.  ``entry.param``, ``entry.p_range``
and ``entry.x0`` are the command line's defaults: the parameter to continue,
its range, and a rest point (or a guess for one) at the default parameters
(None means the origin).  New models join with `register`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable

from .._errors import InputError
from .classic import bratu, double_well, two_well
from .diffusion import (
    PARAMETERIZATIONS,
    diffusion,
    noise_to_parameter,
    parameter_to_noise,
)
from .energy_based import (
    SoftplusMLP,
    default_networks,
    energy_interpolation,
    energy_mlp,
    energy_model,
)
from .hopfield import ACTIVATIONS, Activation, default_weights, hebbian, hopfield
from .modern_hopfield import modern_hopfield
from .normal_forms import (
    cusp,
    fold,
    hopf,
    pitchfork,
    subcritical_pitchfork,
    transcritical,
)

__all__ = [
    "ACTIVATIONS",
    "PARAMETERIZATIONS",
    "Activation",
    "ModelEntry",
    "SoftplusMLP",
    "available",
    "bratu",
    "cusp",
    "default_networks",
    "default_weights",
    "diffusion",
    "double_well",
    "energy_interpolation",
    "energy_mlp",
    "energy_model",
    "fold",
    "get",
    "hebbian",
    "hopf",
    "hopfield",
    "modern_hopfield",
    "noise_to_parameter",
    "parameter_to_noise",
    "pitchfork",
    "register",
    "subcritical_pitchfork",
    "transcritical",
    "two_well",
]


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A named built-in model with its command-line defaults.

    Attributes
    ----------
    name : str
        The name used by ``bifurc models`` and ``bifurc continue NAME``.
    summary : str
        One line for listings.
    builder : callable or str
        The constructor, or ``"module:function"`` imported on first use
        (for models with heavy set-up).
    param : str
        The parameter continued by default.
    p_range : tuple of float
        ``(start, end)`` of the default run; `end` may be below `start`
        (e.g. noise decreasing).
    x0 : tuple of float or None
        A rest point, or a guess for one, at the default parameters of
        ``build()``; None means the origin.
    options : dict
        Keyword arguments passed to `builder` before those given to `build`.
    """

    name: str
    summary: str
    builder: Callable | str
    param: str
    p_range: tuple
    x0: tuple | None = None
    options: dict = dataclasses.field(default_factory=dict)

    def build(self, **options):
        """The model's `System`, with `options` overriding the entry's own."""
        builder = self.builder
        if isinstance(builder, str):
            module, _, function = builder.partition(":")
            builder = getattr(importlib.import_module(module), function)
        return builder(**{**self.options, **options})


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry, *, replace=False):
    """Add a `ModelEntry` to the registry.

    Raises
    ------
    InputError
        If the name is taken and `replace` is False.
    """
    if not isinstance(entry, ModelEntry):
        raise InputError(f"entry must be a ModelEntry, got {type(entry).__name__}")
    if entry.name in _REGISTRY and not replace:
        raise InputError(
            f"a model named {entry.name!r} is already registered; pass replace=True"
        )
    _REGISTRY[entry.name] = entry
    return entry


def available():
    """The registered models, as a list of `ModelEntry` in registration order."""
    return list(_REGISTRY.values())


def get(name):
    """The registered model called `name`.

    Raises
    ------
    InputError
        For an unknown name, listing the known ones and the closest match.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    names = list(_REGISTRY)
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.4)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(f"unknown model {name!r}: the built-in models are {names}{hint}")


# Rest points at the default parameters, where they are not the origin:
# sqrt(1/2) for the fold at p = 1/2, and the real root of x^3 - x + 1/2 for
# the cusp and the double well at -1/2.
_FOLD_X0 = (0.7071067811865476,)
_CUSP_X0 = (-1.1914878839,)

# The lower symmetric rest point s = a e^s of Bratu's problem at a = 0.1 (the
# range starts there: below it the upper branch runs off to infinity).
_BRATU_X0 = (0.11183255915896297, 0.11183255915896297)

# Default training points of the diffusion landscape and their weights: four
# weighted points without symmetry, so that every event is generic.  As sigma
# falls, four folds create the memories (and a saddle-source pair), and in
# between a saddle's unstable branch switches from one sink to another
# through a saddle-to-saddle connection (HET) near sigma = 0.3391.
_DIFFUSION_POINTS = ((0.07, 0.28), (1.0, 1.36), (-0.3, 0.97), (-0.28, -0.39))
_DIFFUSION_WEIGHTS = (1.37, 0.84, 1.15, 1.02)
# The single sink at sigma = 2 (near the weighted mean of the points).
_DIFFUSION_X0 = (0.04755620093805332, 0.4986591188134134)

# Default patterns of the modern Hopfield network: +/-1 patterns in five
# units with distinct overlaps (3, -1, 1), so that no symmetry makes an event
# degenerate.
_MODERN_PATTERNS = (
    (1.0, 1.0, 1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0, 1.0, -1.0),
    (1.0, 1.0, -1.0, -1.0, -1.0),
)
# The sink near the first pattern at beta = 4; followed down in beta it
# vanishes in the fold (near beta = 1.05) where that memory is born.
_MODERN_X0 = (1.0, 1.0, 0.9999999999241145, 0.9999999999241145, 0.9993256729388369)

# The lowest minimum of the default interpolated energy at lam = 0, scale 2.
_INTERPOLATION_X0 = (2.458383, 5.480795)

_ENTRIES = (
    ModelEntry(
        name="fold",
        summary="saddle-node normal form x' = p - x^2",
        builder=fold,
        param="p",
        p_range=(0.5, -1.0),
        x0=_FOLD_X0,
        options={"p": 0.5},
    ),
    ModelEntry(
        name="pitchfork",
        summary="supercritical pitchfork x' = p x - x^3",
        builder=pitchfork,
        param="p",
        p_range=(-0.5, 1.0),
        x0=None,
        options={"p": -0.5},
    ),
    ModelEntry(
        name="subcritical-pitchfork",
        summary="subcritical pitchfork x' = p x + x^3",
        builder=subcritical_pitchfork,
        param="p",
        p_range=(-0.5, 1.0),
        x0=None,
        options={"p": -0.5},
    ),
    ModelEntry(
        name="transcritical",
        summary="transcritical normal form x' = p x - x^2",
        builder=transcritical,
        param="p",
        p_range=(-0.5, 1.0),
        x0=None,
        options={"p": -0.5},
    ),
    ModelEntry(
        name="cusp",
        summary="cusp normal form x' = mu + lam x - x^3",
        builder=cusp,
        param="mu",
        p_range=(-0.5, 1.0),
        x0=_CUSP_X0,
        options={"mu": -0.5},
    ),
    ModelEntry(
        name="hopf",
        summary="Hopf normal form (planar, not a gradient flow)",
        builder=hopf,
        param="mu",
        p_range=(-0.5, 1.0),
        x0=None,
        options={"mu": -0.5},
    ),
    ModelEntry(
        name="double-well",
        summary="tilted double well E = (x^2 - 1)^2 / 4 - tilt x",
        builder=double_well,
        param="tilt",
        p_range=(-0.5, 1.0),
        x0=_CUSP_X0,
        options={"tilt": -0.5},
    ),
    ModelEntry(
        name="two-well",
        summary="symmetric two-well E = x^4/4 - mu x^2/2 + y^2/2",
        builder=two_well,
        param="mu",
        p_range=(-0.5, 1.0),
        x0=None,
        options={"mu": -0.5},
    ),
    ModelEntry(
        name="bratu",
        summary="two-variable Bratu problem, fold at a = 1/e",
        builder=bratu,
        param="a",
        p_range=(0.1, 0.5),
        x0=_BRATU_X0,
        options={"a": 0.1},
    ),
    ModelEntry(
        name="bratu2d",
        summary="2-D Bratu problem on a 20 x 20 grid (sparse Jacobian)",
        builder="bifurc.models.bratu2d:bratu2d",
        param="lam",
        p_range=(0.0, 7.0),
        x0=None,
        options={"n_grid": 20},
    ),
    ModelEntry(
        name="hopfield",
        summary="5-unit symmetric Hopfield network, gain beta",
        builder=hopfield,
        param="beta",
        p_range=(0.1, 3.0),
        x0=None,
        options={"beta": 0.1},
    ),
    ModelEntry(
        name="modern-hopfield",
        summary="modern Hopfield network, 3 patterns in 5-D, gain beta",
        builder=modern_hopfield,
        param="beta",
        p_range=(4.0, 0.0),
        x0=_MODERN_X0,
        options={"patterns": _MODERN_PATTERNS, "beta": 4.0},
    ),
    ModelEntry(
        name="diffusion",
        summary="diffusion memory landscape, 4 weighted points in 2-D, noise sigma",
        builder=diffusion,
        param="sigma",
        p_range=(2.0, 0.05),
        x0=_DIFFUSION_X0,
        options={
            "points": _DIFFUSION_POINTS,
            "weights": _DIFFUSION_WEIGHTS,
            "value": 2.0,
        },
    ),
    ModelEntry(
        name="energy-mlp",
        summary="softplus-network energy in 2-D, scale of the network",
        builder=energy_mlp,
        param="scale",
        p_range=(0.0, 2.0),
        x0=None,
        options={"scale": 0.0},
    ),
    ModelEntry(
        name="energy-interpolation",
        summary="energy between two network checkpoints, lam in [0, 1]",
        builder=energy_interpolation,
        param="lam",
        p_range=(0.0, 1.0),
        x0=_INTERPOLATION_X0,
        options={"lam": 0.0, "scale": 2.0},
    ),
)

for _entry in _ENTRIES:
    register(_entry)
