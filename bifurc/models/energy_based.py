"""Energy-based models: gradient flows of learned or written energies.

A softplus multi-layer perceptron N(x) with a quadratic confinement gives
``E(x) = scale N(x) + confinement |x|^2 / 2`` and the flow ``x' = -grad E``;
gradient and Hessian are computed in closed form by one forward and one
backward sweep (no automatic differentiation needed).  A second family
interpolates between two sets of weights, to follow a landscape across
training checkpoints, and `energy_model` wraps an energy written as an
expression.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from collections.abc import Mapping

import numpy as np
import scipy.special

from .._errors import InputError
from .._system import System
from ._common import as_matrix, as_positive, state_names

__all__ = [
    "SoftplusMLP",
    "default_networks",
    "energy_interpolation",
    "energy_mlp",
    "energy_model",
]

_DATA_FILE = "energy_mlp_weights.npz"

# The box is the a-priori bound |x| <= scale * Lip(N) / confinement, widened
# by this factor; with no confinement there is no bound and this half-width
# is used instead.
_BOX_WIDEN = 1.1
_UNCONFINED_BOX = 10.0


def _softplus(z):
    return np.logaddexp(0.0, z)


@dataclasses.dataclass(frozen=True, eq=False)
class SoftplusMLP:
    """A scalar softplus network ``N(x) = output . h_L``.

    Layers ``h_k = softplus(W_k h_(k-1) + b_k)`` with ``h_0 = x``.

    Attributes
    ----------
    weights : tuple of ndarray
        ``W_k`` of shape ``(width_k, width_(k-1))``; ``width_0`` is the input
        dimension d.
    biases : tuple of ndarray
        ``b_k`` of shape ``(width_k,)``.
    output : ndarray, shape (width_L,)
        The read-out vector.
    """

    weights: tuple
    biases: tuple
    output: np.ndarray

    def __post_init__(self):
        weights = tuple(
            as_matrix(w, f"weights[{k}]") for k, w in enumerate(self.weights)
        )
        biases = tuple(
            as_matrix(b, f"biases[{k}]", ndim=1) for k, b in enumerate(self.biases)
        )
        output = as_matrix(self.output, "output", ndim=1)
        _check_layers(weights, biases, output)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "output", output)

    @property
    def dim(self):
        """Input dimension d."""
        return self.weights[0].shape[1]

    def _forward(self, x):
        """Pre-activations z_k and layer values h_k (h_0 = x)."""
        pre, layers = [], [x]
        for w, b in zip(self.weights, self.biases, strict=True):
            pre.append(w @ layers[-1] + b)
            layers.append(_softplus(pre[-1]))
        return pre, layers

    def value(self, x):
        """N(x), a float."""
        return float(self.output @ self._forward(x)[1][-1])

    def gradient(self, x):
        """grad N(x), shape (d,)."""
        pre, _ = self._forward(x)
        adjoint = self.output
        for w, z in zip(reversed(self.weights), reversed(pre), strict=True):
            adjoint = w.T @ (adjoint * scipy.special.expit(z))
        return adjoint

    def hessian(self, x):
        """The Hessian of N at x, shape (d, d), symmetric.

        ``sum_k J_k^T diag(g_k softplus''(z_k)) J_k`` with ``J_k = dz_k/dx``
        and ``g_k = dN/dh_k``: the linear layers add no curvature.
        """
        pre, _ = self._forward(x)
        jacobians, state = [], np.eye(x.size)
        for w, z in zip(self.weights, pre, strict=True):
            jacobians.append(w @ state)
            state = scipy.special.expit(z)[:, None] * jacobians[-1]

        hessian, adjoint = np.zeros((x.size, x.size)), self.output
        for w, z, jac in zip(
            reversed(self.weights), reversed(pre), reversed(jacobians), strict=True
        ):
            slope = scipy.special.expit(z)
            hessian += jac.T @ ((adjoint * slope * (1 - slope))[:, None] * jac)
            adjoint = w.T @ (adjoint * slope)
        return (hessian + hessian.T) / 2

    def gradient_tangent(self, x, step):
        """Derivative of grad N(x) when the weights move along `step`, shape (d,).

        Parameters
        ----------
        x : ndarray, shape (d,)
        step : SoftplusMLP
            The direction in weight space (same architecture).
        """
        pre, layers = self._forward(x)
        moved, d_pre = np.zeros_like(x), []
        for k, w in enumerate(self.weights):
            d_pre.append(step.weights[k] @ layers[k] + w @ moved + step.biases[k])
            moved = scipy.special.expit(pre[k]) * d_pre[-1]

        adjoint, d_adjoint = self.output, step.output
        for k in reversed(range(len(self.weights))):
            slope = scipy.special.expit(pre[k])
            delta = adjoint * slope
            d_delta = d_adjoint * slope + adjoint * slope * (1 - slope) * d_pre[k]
            adjoint = self.weights[k].T @ delta
            d_adjoint = step.weights[k].T @ delta + self.weights[k].T @ d_delta
        return d_adjoint

    def combine(self, other, a, b):
        """The network with weights ``a * self + b * other`` (same architecture)."""
        return SoftplusMLP(
            tuple(
                a * u + b * v for u, v in zip(self.weights, other.weights, strict=True)
            ),
            tuple(
                a * u + b * v for u, v in zip(self.biases, other.biases, strict=True)
            ),
            a * self.output + b * other.output,
        )

    def lipschitz_bound(self):
        """An upper bound on |grad N| (softplus' <= 1)."""
        norms = [np.linalg.norm(w, 2) for w in self.weights]
        return float(np.prod(norms) * np.linalg.norm(self.output))


def _check_layers(weights, biases, output):
    if len(weights) == 0 or len(weights) != len(biases):
        raise InputError(
            f"need one bias per weight matrix and at least one layer, got "
            f"{len(weights)} weight matrices and {len(biases)} biases"
        )
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if k > 0 and w.shape[1] != weights[k - 1].shape[0]:
            raise InputError(
                f"weights[{k}] has shape {w.shape} but the layer before has "
                f"width {weights[k - 1].shape[0]}"
            )
        if b.shape != (w.shape[0],):
            raise InputError(
                f"biases[{k}] must have shape ({w.shape[0]},), got {b.shape}"
            )
    if output.shape != (weights[-1].shape[0],):
        raise InputError(
            f"output must have shape ({weights[-1].shape[0]},), got {output.shape}"
        )


def _as_network(network, name):
    if isinstance(network, SoftplusMLP):
        return network
    if isinstance(network, Mapping):
        missing = {"weights", "biases", "output"} - set(network)
        if missing:
            raise InputError(f"{name} is missing the keys {sorted(missing)}")
        return SoftplusMLP(network["weights"], network["biases"], network["output"])
    raise InputError(
        f"{name} must be a SoftplusMLP or a mapping with keys weights, biases, "
        f"output; got {type(network).__name__}"
    )


@dataclasses.dataclass(frozen=True, eq=False)
class _MLPFlow:
    """``x' = -scale grad N(x) - confinement x``; parameters (scale, confinement)."""

    network: SoftplusMLP

    def rhs(self, x, p):
        return -(p[0] * self.network.gradient(x) + p[1] * x)

    def jacobian(self, x, p):
        jac = -p[0] * self.network.hessian(x)
        jac[np.diag_indices_from(jac)] -= p[1]
        return jac

    def param_jacobian(self, x, p):
        return np.column_stack([-self.network.gradient(x), -x])

    def energy(self, x, p):
        return p[0] * self.network.value(x) + p[1] * float(x @ x) / 2


@dataclasses.dataclass(frozen=True, eq=False)
class _InterpolatedFlow:
    """The flow of ``N_lam`` with weights ``start + lam (end - start)``.

    Parameters (lam, scale, confinement).
    """

    start: SoftplusMLP
    step: SoftplusMLP

    def network(self, lam):
        return self.start.combine(self.step, 1.0, lam)

    def rhs(self, x, p):
        return -(p[1] * self.network(p[0]).gradient(x) + p[2] * x)

    def jacobian(self, x, p):
        jac = -p[1] * self.network(p[0]).hessian(x)
        jac[np.diag_indices_from(jac)] -= p[2]
        return jac

    def param_jacobian(self, x, p):
        network = self.network(p[0])
        along_lam = -p[1] * network.gradient_tangent(x, self.step)
        return np.column_stack([along_lam, -network.gradient(x), -x])

    def energy(self, x, p):
        return p[1] * self.network(p[0]).value(x) + p[2] * float(x @ x) / 2


def _box(dim, bound, scale, confinement):
    """The a-priori box at the default scale, or at scale 1 if that is larger."""
    if confinement > 0:
        half = _BOX_WIDEN * max(abs(scale), 1.0) * bound / confinement
    else:
        half = _UNCONFINED_BOX
    return np.full(dim, -half), np.full(dim, half)


def energy_mlp(network=None, *, scale=1.0, confinement=1.0, name="energy-mlp"):
    """The gradient flow of a softplus network plus a quadratic confinement.

    Parameters
    ----------
    network : SoftplusMLP or mapping, optional
        The network N, or a mapping with keys ``weights`` (list of arrays
        ``(width_k, width_(k-1))``), ``biases`` and ``output``.  By default
        the first of the two 2-D networks shipped with bifurc.
    scale, confinement : float
        Defaults of the parameters ``scale`` and ``confinement`` in
        ``E = scale N(x) + confinement |x|^2 / 2``.
    name : str

    Returns
    -------
    System
        Variables ``x0, x1, ...``; parameters ``scale, confinement``;
        ``gradient=True`` with `energy`; analytic Jacobian (the Hessian) and
        f_p; `box` from ``|x| <= scale Lip(N) / confinement`` (with the
        default scale, or 1 if larger).  Second
        derivatives are left to finite differences.
    """
    network = default_networks()[0] if network is None else network
    network = _as_network(network, "network")
    confinement = as_positive(confinement, "confinement", allow_zero=True)
    flow = _MLPFlow(network)
    return System(
        variables=state_names(network.dim),
        parameters=("scale", "confinement"),
        defaults=np.array([scale, confinement], dtype=float),
        rhs=flow.rhs,
        jacobian=flow.jacobian,
        param_jacobian=flow.param_jacobian,
        energy=flow.energy,
        gradient=True,
        name=name,
        description=(
            f"softplus network energy with confinement in {network.dim}-D, "
            f"E = scale N(x) + confinement |x|^2 / 2"
        ),
        box=_box(network.dim, network.lipschitz_bound(), scale, confinement),
    )


def energy_interpolation(
    start=None,
    end=None,
    *,
    lam=0.0,
    scale=1.0,
    confinement=1.0,
    name="energy-interpolation",
):
    """Energies of networks whose weights interpolate between two sets.

    Parameters
    ----------
    start, end : SoftplusMLP or mapping, optional
        Weights at ``lam = 0`` and ``lam = 1`` (same architecture), e.g. two
        training checkpoints.  By default the two networks shipped with bifurc.
    lam, scale, confinement : float
        Defaults of the parameters ``lam``, ``scale`` and ``confinement``.
    name : str

    Returns
    -------
    System
        ``E = scale N_lam(x) + confinement |x|^2 / 2`` with the weights of
        ``N_lam`` equal to ``(1 - lam) start + lam end``; f_p along ``lam``
        is the closed-form derivative of the gradient in weight space.
    """
    defaults = default_networks() if start is None or end is None else (None, None)
    start = _as_network(defaults[0] if start is None else start, "start")
    end = _as_network(defaults[1] if end is None else end, "end")
    _check_same_architecture(start, end)
    confinement = as_positive(confinement, "confinement", allow_zero=True)

    flow = _InterpolatedFlow(start, end.combine(start, 1.0, -1.0))
    bound = max(start.lipschitz_bound(), end.lipschitz_bound())
    return System(
        variables=state_names(start.dim),
        parameters=("lam", "scale", "confinement"),
        defaults=np.array([lam, scale, confinement], dtype=float),
        rhs=flow.rhs,
        jacobian=flow.jacobian,
        param_jacobian=flow.param_jacobian,
        energy=flow.energy,
        gradient=True,
        name=name,
        description=(
            f"softplus network energy in {start.dim}-D with weights "
            "(1 - lam) start + lam end, plus confinement"
        ),
        box=_box(start.dim, bound, scale, confinement),
    )


def _check_same_architecture(start, end):
    shapes = [w.shape for w in start.weights]
    other = [w.shape for w in end.weights]
    if shapes != other:
        raise InputError(
            f"start and end must have the same layer shapes, got {shapes} and {other}"
        )


def default_networks():
    """The two 2-D softplus networks shipped with bifurc (two checkpoints).

    Returns
    -------
    tuple of SoftplusMLP
        Same architecture; ``energy_mlp`` uses the first by default and
        ``energy_interpolation`` goes from the first to the second.
    """
    resource = importlib.resources.files(__package__) / "data" / _DATA_FILE
    with importlib.resources.as_file(resource) as path, np.load(path) as data:
        return tuple(_network_from_arrays(data, prefix) for prefix in ("start", "end"))


def _network_from_arrays(data, prefix):
    n_layers = int(data[f"{prefix}_layers"])
    weights = [data[f"{prefix}_w{k}"] for k in range(n_layers)]
    biases = [data[f"{prefix}_b{k}"] for k in range(n_layers)]
    return SoftplusMLP(weights, biases, data[f"{prefix}_output"])


def energy_model(energy, variables, parameters, **options):
    """A gradient flow ``x' = -grad E`` from an energy written as an expression.

    Parameters
    ----------
    energy : str
        The energy, e.g. ``"x**4/4 - mu*x**2/2 + y**2/2"`` (read by bifurc's
        restricted parser, never evaluated as Python).
    variables : sequence of str
    parameters : mapping of str to float
    **options
        Passed to `System.from_energy` (``name``, ``box``, ...).

    Returns
    -------
    System
        With exact symbolic derivatives.
    """
    return System.from_energy(energy, variables, parameters, **options)
