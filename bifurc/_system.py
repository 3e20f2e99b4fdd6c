"""The `System`: a parameterised vector field x' = f(x, p) and its derivatives.

Every computation in bifurc takes a `System`.  Its functions all have the
signature ``(x, p)`` where ``x`` is the state, an ndarray of shape ``(n,)``,
and ``p`` the full parameter vector, an ndarray of shape ``(m,)`` ordered as
`System.parameters`.  Which parameter is continued is chosen by index, so
one compiled system serves every parameter.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from ._errors import InputError, UserFunctionError

__all__ = ["System"]

logger = logging.getLogger(__name__)

# Relative finite-difference steps: the cube root (central differences) and
# fourth root (second differences) of machine epsilon balance truncation
# against rounding error.
_FD_REL_STEP = np.finfo(float).eps ** (1 / 3)
_FD2_REL_STEP = np.finfo(float).eps ** (1 / 4)

# A supplied Jacobian must match finite differences to this relative
# tolerance at the start of a run.
_JAC_CHECK_RTOL = 1e-4


def _fd_steps(v, rel, scale=1.0):
    """Steps for each component of `v`: `rel` times its magnitude or `scale`."""
    return rel * np.maximum(scale, np.abs(v))


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class System:
    """A parameterised system of ordinary differential equations x' = f(x, p).

    Build one with `from_equations`, `from_energy` or `from_callable`, or load
    it with `bifurc.load_model` (or `from_toml_string`); built-in models in
    `bifurc.models` return one.

    Attributes
    ----------
    variables : tuple of str
        Names of the state variables, length n.
    parameters : tuple of str
        Names of the parameters, length m.
    defaults : ndarray, shape (m,)
        Default parameter values (read-only).
    rhs : callable
        ``rhs(x, p) -> ndarray, shape (n,)``.
    jacobian : callable or None
        ``jacobian(x, p) -> ndarray or sparse matrix, shape (n, n)``, the
        derivative f_x.  None means finite differences.
    param_jacobian : callable or None
        ``param_jacobian(x, p) -> ndarray, shape (n, m)``, the derivative
        f_p with respect to every parameter.  None means finite differences.
    second_derivative : callable or None
        ``second_derivative(x, p, k, u, v) -> ndarray, shape (n,)``: the
        second derivative of ``(x, p_k) -> f`` applied to the two directions
        ``u`` and ``v``, each of shape ``(n + 1,)`` (state part, then the
        component along parameter ``k``).  None means finite differences of
        the Jacobian.
    energy : callable or None
        ``energy(x, p) -> float`` when the system is the gradient flow
        x' = -grad E.
    gradient : bool
        True when f_x is symmetric at every point (a gradient flow).
        Stability then uses symmetric eigensolvers or the inertia.
    symmetrizer : callable or None
        ``symmetrizer(x, p) -> ndarray or sparse, shape (n, n)``: a symmetric
        matrix with the same eigenvalues as f_x, when one is known (a
        classical Hopfield network with symmetric weights).  Its inertia gives
        the number of unstable directions.
    sparse : bool
        True when `jacobian` returns scipy.sparse matrices.
    name, description : str
        Shown by the command line and in exported files.
    box : tuple of two ndarrays or None
        Lower and upper corners of the region where rest points are searched.
    expressions : dict or None
        For symbolic systems, the sympy expressions (``"rhs"`` and, for
        gradient flows, ``"energy"``) and the sympy symbols (``"x"``,
        ``"p"``).
    """

    variables: tuple[str, ...]
    parameters: tuple[str, ...]
    defaults: np.ndarray
    rhs: Callable
    jacobian: Callable | None = None
    param_jacobian: Callable | None = None
    second_derivative: Callable | None = None
    energy: Callable | None = None
    gradient: bool = False
    symmetrizer: Callable | None = None
    sparse: bool = False
    name: str = ""
    description: str = ""
    box: tuple | None = None
    expressions: dict | None = None

    def __post_init__(self):
        variables = tuple(str(v) for v in self.variables)
        parameters = tuple(str(q) for q in self.parameters)
        _check_names(variables, "variables")
        _check_names(parameters, "parameters")
        if set(variables) & set(parameters):
            shared = sorted(set(variables) & set(parameters))
            raise InputError(f"names used both as variable and parameter: {shared}")

        defaults = np.array(self.defaults, dtype=float).reshape(-1)
        if defaults.shape != (len(parameters),):
            raise InputError(
                f"defaults has {defaults.size} values for {len(parameters)} "
                f"parameters {list(parameters)}"
            )
        if not np.all(np.isfinite(defaults)):
            raise InputError(f"parameter defaults must be finite, got {defaults}")
        defaults.setflags(write=False)

        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "defaults", defaults)
        if self.box is not None:
            object.__setattr__(self, "box", _check_box(self.box, len(variables)))

    def __repr__(self):
        kind = "gradient flow" if self.gradient else "vector field"
        label = f"{self.name!r}, " if self.name else ""
        return (
            f"System({label}{kind}, variables={list(self.variables)[:8]}, "
            f"parameters={self.params})"
        )

    # ------------------------------------------------------------------
    # Construction

    @classmethod
    def from_toml_string(cls, text, *, source="<string>", **overrides):
        """Build a system from the text of a TOML model file.

        See `bifurc.load_model` for the format, the overrides and the errors.
        """
        from ._toml import model_from_toml

        return model_from_toml(text, source=source, **overrides)

    @classmethod
    def from_equations(
        cls, equations, variables, parameters, *, name="", description="", box=None
    ):
        """Build a system from equations given as strings or sympy expressions.

        Parameters
        ----------
        equations : sequence or mapping
            The right-hand sides f_i, one per variable: a sequence in the
            order of `variables`, or a mapping from each variable's name to
            its equation.  Each is a string in the expression grammar (see
            `bifurc._parser`) or a sympy expression in symbols of the
            declared names.
        variables : int or sequence of str
            The state's names, or their number n (names ``x0, x1, ...``).
        parameters : mapping of str to float
            Parameter names and default values, in order.
        name, description : str
            Shown by the command line and in exported files.
        box : (lower, upper), optional
            Corners of the region where rest points are searched, each a
            number or an array of shape (n,).

        Returns
        -------
        System
            With exact f_x, f_p and second derivatives, compiled to numpy.

        Raises
        ------
        ModelError
            For an equation outside the grammar (with its position), a
            missing or extra equation, or a name that cannot be declared.

        Notes
        -----
        The right-hand side and f_x are compiled at once, f_p at its first
        use and the second derivative for parameter k at its first use with
        that k.  ``abs`` is differentiated as ``sign`` and its second
        derivative (a Dirac delta at 0) is taken as 0.  Known shortcoming:
        everything is dense, so building and compiling grow like n**2 (f_x)
        and n**3 (second derivative); beyond n of about 100, use
        `from_callable` with a sparse Jacobian.

        Examples
        --------
        >>> system = System.from_equations(["p*x - x**3"], ["x"], {"p": 0.0})
        >>> system.f([2.0], [1.0])
        array([-6.])
        """
        from ._symbolic import equations_model, system_fields

        model = equations_model(equations, variables, parameters)
        fields = system_fields(model)
        return cls(**fields, name=name, description=description, box=box)

    @classmethod
    def from_energy(
        cls, energy, variables, parameters, *, name="", description="", box=None
    ):
        """Build the gradient flow x' = -grad E(x, p) of an energy.

        Parameters
        ----------
        energy : str or sympy.Expr
            The energy E, a string in the expression grammar or a sympy
            expression in symbols of the declared names.
        variables, parameters, name, description, box
            As for `from_equations`.

        Returns
        -------
        System
            With ``gradient=True``: its Jacobian is the negative Hessian of
            E, symmetric, and the number of unstable directions at a rest
            point is the Morse index of E there.  `energy` is compiled too.

        Examples
        --------
        >>> system = System.from_energy("x**4/4 - p*x**2/2", ["x"], {"p": 1.0})
        >>> system.f([2.0], [1.0])
        array([-6.])
        """
        from ._symbolic import energy_model, system_fields

        model = energy_model(energy, variables, parameters)
        fields = system_fields(model)
        return cls(**fields, name=name, description=description, box=box)

    @classmethod
    def from_callable(
        cls,
        f,
        variables,
        parameters,
        *,
        jacobian=None,
        param_jacobian=None,
        energy=None,
        gradient=False,
        sparse=False,
        name="",
        description="",
        box=None,
        check_jacobian=True,
    ):
        """Build a system from Python functions.

        Parameters
        ----------
        f : callable
            ``f(x, p) -> array_like, shape (n,)``, with ``x`` of shape
            ``(n,)`` and ``p`` the parameter vector of shape ``(m,)`` in the
            order of `parameters`.
        variables : int or sequence of str
            The state's names, or their number n (names ``x0, x1, ...``).
        parameters : mapping of str to float
            Parameter names and default values, in order.
        jacobian, param_jacobian : callable, optional
            f_x as an ``(n, n)`` array (or sparse matrix with
            ``sparse=True``) and f_p as an ``(n, m)`` array.  When missing,
            central finite differences with steps relative to each
            variable's magnitude.
        energy : callable, optional
            ``energy(x, p) -> float`` when ``f = -grad energy``; implies
            ``gradient=True``.
        gradient : bool
            Whether f_x is symmetric everywhere.
        sparse : bool
            Whether `jacobian` returns scipy.sparse matrices.
        name, description : str
            Shown by the command line and in exported files.
        box : (lower, upper), optional
            Corners of the region where rest points are searched; their
            size also sets the typical scale of each variable for finite
            differences.
        check_jacobian : bool
            Compare a supplied `jacobian` with finite differences once, at
            the centre of `box` (or at ``x = 0.5``) and the default
            parameters, and raise `InputError` naming the first entry that
            disagrees.

        Returns
        -------
        System
            Whose functions return float arrays of checked shape; an
            exception inside a user function is re-raised as
            `UserFunctionError`, chained, with x and p in the message.
        """
        variables, defaults = _declared_names(variables, parameters)
        names = (variables, tuple(defaults))
        n, m = len(variables), len(defaults)
        system = cls(
            variables=variables,
            parameters=tuple(defaults),
            defaults=np.array(list(defaults.values())),
            rhs=_UserFunction(f, "f", (n,), names),
            jacobian=_optional_user(jacobian, "jacobian", (n, n), names, sparse),
            param_jacobian=_optional_user(
                param_jacobian, "param_jacobian", (n, m), names
            ),
            energy=_optional_user(energy, "energy", (), names),
            gradient=bool(gradient or energy is not None),
            sparse=bool(sparse),
            name=name,
            description=description,
            box=box,
        )
        if jacobian is not None and check_jacobian:
            system._check_jacobian_at_start()
        return system

    def _check_jacobian_at_start(self):
        """Check the Jacobian at the box centre (or 0.5) unless f fails there."""
        x = (
            np.full(self.n, 0.5)
            if self.box is None
            else (self.box[0] + self.box[1]) / 2
        )
        try:
            self.check_jacobian(x, self.defaults)
        except UserFunctionError as exc:
            logger.debug("Jacobian check skipped: %s", exc)

    def with_params(self, **values):
        """Return a copy with some default parameter values changed.

        Raises
        ------
        InputError
            For an unknown name (the message lists the known ones) or a
            non-finite value.
        """
        defaults = np.array(self.defaults)
        for key, value in values.items():
            defaults[self.param_index(key)] = float(value)
        return dataclasses.replace(self, defaults=defaults)

    # ------------------------------------------------------------------
    # Names and shapes

    @property
    def n(self):
        """Number of state variables."""
        return len(self.variables)

    @property
    def m(self):
        """Number of parameters."""
        return len(self.parameters)

    @property
    def params(self):
        """Default parameter values as a dict."""
        return dict(zip(self.parameters, self.defaults.tolist(), strict=True))

    def param_index(self, name):
        """Index of parameter `name`.

        Raises
        ------
        InputError
            Naming the known parameters and the closest match.
        """
        if isinstance(name, int | np.integer) and 0 <= name < self.m:
            return int(name)
        try:
            return self.parameters.index(name)
        except ValueError:
            pass

        close = difflib.get_close_matches(str(name), self.parameters, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown parameter {name!r}: the system's parameters are "
            f"{list(self.parameters)}{hint}"
        )

    def variable_index(self, name):
        """Index of state variable `name` (with the same errors as `param_index`)."""
        try:
            return self.variables.index(name)
        except ValueError:
            close = difflib.get_close_matches(str(name), self.variables, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"unknown variable {name!r}: the system's variables are "
                f"{list(self.variables)}{hint}"
            ) from None

    def parameter_vector(self, values=None):
        """Full parameter vector from defaults overridden by `values` (a dict)."""
        p = np.array(self.defaults)
        for key, value in (values or {}).items():
            p[self.param_index(key)] = float(value)

        if not np.all(np.isfinite(p)):
            bad = int(np.flatnonzero(~np.isfinite(p))[0])
            raise InputError(
                f"parameter values must be finite; {self.parameters[bad]!r} is {p[bad]}"
            )
        return p

    def check_state(self, x, name="x0"):
        """Return `x` as a float array of shape (n,), or raise `InputError`."""
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 and self.n == 1:
            x = x.reshape(1)
        if x.shape != (self.n,):
            raise InputError(
                f"{name} must have shape ({self.n},) for variables "
                f"{list(self.variables)[:6]}, got shape {x.shape}"
            )

        if not np.all(np.isfinite(x)):
            bad = int(np.flatnonzero(~np.isfinite(x))[0])
            raise InputError(
                f"{name} must be finite; component {self.variables[bad]!r} is {x[bad]}"
            )
        return x

    # ------------------------------------------------------------------
    # Evaluation

    def f(self, x, p):
        """The vector field at (x, p), shape (n,)."""
        return self.rhs(x, p)

    def fx(self, x, p):
        """The Jacobian f_x at (x, p): analytic when available, else differences."""
        if self.jacobian is not None:
            return self.jacobian(x, p)
        return self.fd_jacobian(x, p)

    def fp(self, x, p, k):
        """The derivative of f with respect to parameter `k` (an index), shape (n,)."""
        if self.param_jacobian is not None:
            return np.asarray(self.param_jacobian(x, p))[:, k]

        h = _FD_REL_STEP * max(1.0, abs(p[k]))
        up, down = np.array(p), np.array(p)
        up[k] += h
        down[k] -= h
        return (np.asarray(self.rhs(x, up)) - np.asarray(self.rhs(x, down))) / (2 * h)

    def fxx(self, x, p, k, u, v):
        """Second derivative of ``(x, p_k) -> f`` in directions u, v of shape (n + 1,).

        Exact for symbolic systems; otherwise central differences of the
        Jacobian-vector product along `v`.
        """
        if self.second_derivative is not None:
            return np.asarray(self.second_derivative(x, p, k, u, v))

        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        scale = max(1.0, np.linalg.norm(x), abs(p[k]))
        h = _FD2_REL_STEP * scale / max(np.linalg.norm(v), 1e-300)

        plus = self._directional(x, p, k, u, x + h * v[:-1], p[k] + h * v[-1])
        minus = self._directional(x, p, k, u, x - h * v[:-1], p[k] - h * v[-1])
        return (plus - minus) / (2 * h)

    def _directional(self, x0, p0, k, u, x, pk):
        """(f_x u_x + f_pk u_p) evaluated at (x, p with p_k = pk)."""
        p = np.array(p0)
        p[k] = pk
        jac = self.fx(x, p)
        return np.asarray(jac @ u[:-1]).reshape(-1) + self.fp(x, p, k) * u[-1]

    def fd_jacobian(self, x, p):
        """Finite-difference Jacobian with steps relative to each variable's size."""
        x = np.asarray(x, dtype=float)
        steps = _fd_steps(x, _FD_REL_STEP, self._typical_scale())
        jac = np.empty((x.size, x.size))
        for j in range(x.size):
            up, down = np.array(x), np.array(x)
            up[j] += steps[j]
            down[j] -= steps[j]
            difference = np.asarray(self.rhs(up, p)) - np.asarray(self.rhs(down, p))
            jac[:, j] = difference / (2 * steps[j])
        return jac

    def _typical_scale(self):
        """Typical size of each variable: from the box when given, else 1."""
        if self.box is None:
            return 1.0
        return np.maximum(np.abs(self.box[0]), np.abs(self.box[1]))

    def check_jacobian(self, x, p):
        """Compare the supplied Jacobian with finite differences at (x, p).

        Raises
        ------
        InputError
            Naming the first disagreeing entry and both values.
        """
        if self.jacobian is None:
            return

        exact = self.jacobian(x, p)
        exact = (
            exact.toarray() if sp.issparse(exact) else np.asarray(exact, dtype=float)
        )
        if exact.shape != (self.n, self.n):
            raise InputError(
                f"the Jacobian must have shape ({self.n}, {self.n}), got {exact.shape}"
            )

        approx = self.fd_jacobian(x, p)
        scale = np.maximum(1.0, np.abs(approx))
        bad = np.argwhere(np.abs(exact - approx) > _JAC_CHECK_RTOL * scale)

        if bad.size:
            i, j = bad[0]
            raise InputError(
                f"the supplied Jacobian disagrees with finite differences at entry "
                f"[{i}, {j}] (d f[{self.variables[i]}] / d {self.variables[j]}): "
                f"supplied {exact[i, j]:.10g}, finite differences {approx[i, j]:.10g}"
            )

    def check_call(self, x, p):
        """Evaluate f and f_x once at (x, p), checking shapes.

        Exceptions from user code are re-raised as `UserFunctionError`,
        chained, with x and p in the message; a result of the wrong shape
        raises `InputError`.  Returns ``(f, f_x)``.
        """
        x = self.check_state(x, "x")
        p = np.asarray(p, dtype=float)
        if p.shape != (self.m,):
            raise InputError(
                f"p must have shape ({self.m},) for parameters "
                f"{list(self.parameters)[:6]}, got shape {p.shape}"
            )

        try:
            value = np.asarray(self.rhs(x, p), dtype=float)
            jac = self.fx(x, p)
        except (InputError, UserFunctionError):
            raise
        except Exception as exc:
            raise UserFunctionError(
                f"the system's function raised {type(exc).__name__}: {exc} "
                f"at {_describe_call(x, p, (self.variables, self.parameters))}"
            ) from exc

        if value.shape != (self.n,):
            raise InputError(
                f"f(x, p) must return shape ({self.n},), got {value.shape}"
            )
        if jac.shape != (self.n, self.n):
            raise InputError(
                f"the Jacobian must have shape ({self.n}, {self.n}), got {jac.shape}"
            )
        return value, jac


# ----------------------------------------------------------------------
# Names


def _check_names(names, what):
    if len(set(names)) != len(names):
        raise InputError(f"{what} contains repeated names: {list(names)}")

    for name in names:
        if not name.isidentifier():
            raise InputError(
                f"{what}: {name!r} is not a valid name (use letters, digits, _)"
            )


def _check_box(box, n):
    try:
        lower, upper = (
            np.broadcast_to(np.asarray(b, dtype=float), (n,)).copy() for b in box
        )
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"box must be (lower, upper), each a number or {n} numbers; got {box!r}"
        ) from exc

    if not np.all(lower < upper):
        raise InputError(f"box lower corner must be below the upper one, got {box}")
    return lower, upper


def _declared_names(variables, parameters):
    """Validate the names of a model; return (variables, defaults dict)."""
    if isinstance(variables, int | np.integer):
        variables = tuple(f"x{i}" for i in range(int(variables)))
    elif isinstance(variables, str):
        raise InputError(
            f"variables must be a sequence of names, got the string {variables!r}"
        )
    if not isinstance(parameters, Mapping):
        raise InputError(
            "parameters must be a mapping of names to default values, "
            f"got {type(parameters).__name__}"
        )

    variables = tuple(str(v) for v in variables)
    defaults = {str(k): _default_value(k, v) for k, v in parameters.items()}
    _check_names(variables, "variables")
    _check_names(tuple(defaults), "parameters")

    return variables, defaults


def _default_value(name, value):
    """A parameter default as a float, or an InputError naming the parameter."""
    if isinstance(value, bool | str | bytes):
        raise InputError(
            f"default of parameter {name!r} must be a number, got {value!r}"
        )
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"default of parameter {name!r} must be a number, got {value!r}"
        ) from None


def _describe_call(x, p, names):
    """``x = {...}, p = {...}`` with names, for error messages."""
    variables, parameters = names
    x = np.asarray(x, dtype=float).reshape(-1)
    p = np.asarray(p, dtype=float).reshape(-1)
    state = dict(zip(variables, x.tolist(), strict=False))
    if len(state) > 8:
        state = dict(list(state.items())[:8]) | {"...": "..."}
    values = dict(zip(parameters, p.tolist(), strict=False))
    return f"x = {state}, p = {values}"


class _UserFunction:
    """A user's ``func(x, p)`` whose result is checked and made a float array.

    An exception inside `func` is re-raised as `UserFunctionError` (chained)
    with x and p in the message; a result of the wrong shape for a single
    point raises `InputError`.
    """

    def __init__(self, func, what, shape, names, sparse=False):
        if not callable(func):
            raise InputError(f"{what} must be callable, got {type(func).__name__}")
        self.func, self.what, self.shape = func, what, shape
        self.names, self.sparse = names, sparse

    def __call__(self, x, p):
        try:
            value = self.func(x, p)
            if not (self.sparse and sp.issparse(value)):
                value = np.asarray(value, dtype=float)
        except Exception as exc:
            raise UserFunctionError(
                f"{self.what} raised {type(exc).__name__}: {exc} at "
                f"{_describe_call(x, p, self.names)}"
            ) from exc

        if self.shape == () and np.size(value) == 1:
            value = value.reshape(())
        if np.ndim(x) == 1 and value.shape != self.shape:
            raise InputError(
                f"{self.what}(x, p) must return shape {self.shape}, got {value.shape} "
                f"at {_describe_call(x, p, self.names)}"
            )
        return float(value) if self.shape == () else value


def _optional_user(func, what, shape, names, sparse=False):
    return None if func is None else _UserFunction(func, what, shape, names, sparse)
