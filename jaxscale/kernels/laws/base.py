r"""The :class:`Law` contract: what every scaling law provides, and the hooks it may override.

A law maps its parameters ``theta`` (the *fitted* parametrisation, e.g. ``a = log A``) and the
features of its inputs to a prediction in *fitting space*:

- ``target_scale="log"`` (loss laws): the model returns :math:`\log\hat L` and residuals are
  :math:`r_i = \log L_i - \log\hat L_i` (Hoffmann et al. 2022; Epoch AI 2024);
- ``target_scale="raw"`` (e.g. a loss -> accuracy sigmoid): the model returns :math:`\hat y` and
  residuals are :math:`r_i = y_i - \hat y_i`.

Inputs enter as :math:`\log x` (``input_scale="log"``, the default) or as ``x`` itself.

Hooks a subclass may override (defaults in brackets): :meth:`Law.derived` (none),
:meth:`Law.compute_optimal` (numerical minimisation of the prediction along :math:`C = 6ND`, for
laws with inputs ``N`` and ``D``). ``fit``, ``bootstrap``, ``plot`` and the CLI ask the law through
these hooks and never look at parameter names.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import logsumexp

Array = jnp.ndarray

#: Number of log-N grid points and golden-section steps of the numerical compute-optimal search.
_ALLOC_GRID, _ALLOC_GOLDEN = 257, 80


@dataclass(frozen=True, eq=False)
class Law:
    """A scaling law ``z_hat = log_predict(theta, features)`` in fitting space.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"chinchilla"``.
    inputs : tuple of str
        Input names in the column order of ``features`` (e.g. ``("N", "D")``).
    param_names : tuple of str
        Fitted parameters, in the order of ``theta`` (``a = log A`` ...).
    natural_names : tuple of str
        Reported parameters in the same order (``A = exp(a)`` where ``log_scale``).
    log_predict : callable
        ``(theta[p], features[n, k]) -> z_hat[n]``: pure ``jnp`` and differentiable. For
        ``target_scale="log"`` it is :math:`\\log\\hat L`; for ``"raw"`` it is :math:`\\hat y`.
    log_scale : tuple of bool
        ``log_scale[j]``: natural parameter ``j`` is ``exp(theta[j])`` (so it stays > 0).
    grid : callable
        ``() -> ndarray[K, p]``: default start grid in fitted space (wide, like Hoffmann's).
    log_predict_and_jacobian : callable, optional
        Fast path ``(theta, features) -> (z_hat[n], J[n, p])``; forward-mode autodiff otherwise.
    input_scale : tuple of {"log", "raw"}, optional
        How each input enters ``features`` (default: all ``"log"``).
    target_scale : {"log", "raw"}
        Whether the target is fitted as ``log y`` or ``y``.
    description : str
        The formula in words, shown in summaries.
    example : dict, optional
        A well-identified point for tests and docs: ``{"params": {natural name: value},
        "inputs": {input name: (low, high)}}`` in natural units (the registry tests fit
        noise-free data generated there, inputs spread over the ranges).
    constant_inputs : tuple of str
        Inputs that may take one value in a data set and still leave the parameters identified
        (e.g. the unique-token budget ``U`` of ``data_constrained``: one ``U`` with several epoch
        counts ``D/U`` identifies ``R_D*``). Every other input needs at least two values.
    min_distinct : tuple of int, optional
        The distinct values each input needs for the law's power terms to be identified (default:
        1 for ``constant_inputs``, 2 for every other input). A term :math:`A X^{-\alpha}` beside a
        free constant :math:`E` needs 3 values of :math:`X`: two values fix only one difference
        :math:`A (X_1^{-\alpha} - X_2^{-\alpha})`, which any :math:`\alpha` matches.
    distinct_reason : str
        Why, in words (shown in the error when the data have too few values).
    exponents : tuple of str
        Natural names of the decay exponents, which must come out > 0 for the fit to be a scaling
        law (a non-positive one is named in ``summary()``).
    """

    name: str
    inputs: tuple[str, ...]
    param_names: tuple[str, ...]
    natural_names: tuple[str, ...]
    log_predict: Callable[[Array, Array], Array]
    log_scale: tuple[bool, ...]
    grid: Callable[[], np.ndarray] = field(repr=False)
    log_predict_and_jacobian: Callable[[Array, Array], tuple[Array, Array]] | None = field(
        default=None, repr=False)
    input_scale: tuple[str, ...] | None = None
    target_scale: str = "log"
    description: str = ""
    example: dict | None = field(default=None, repr=False)
    constant_inputs: tuple[str, ...] = ()
    min_distinct: tuple[int, ...] | None = None
    distinct_reason: str = ""
    exponents: tuple[str, ...] = ()

    def __post_init__(self):
        if self.input_scale is None:
            object.__setattr__(self, "input_scale", ("log",) * len(self.inputs))
        if len(self.input_scale) != len(self.inputs) or set(self.input_scale) - {"log", "raw"}:
            raise ValueError(f"law {self.name!r}: input_scale needs one of 'log'/'raw' per input {self.inputs}")
        if set(self.constant_inputs) - set(self.inputs):
            raise ValueError(f"law {self.name!r}: constant_inputs {self.constant_inputs} must be among {self.inputs}")
        if self.min_distinct is not None and len(self.min_distinct) != len(self.inputs):
            raise ValueError(f"law {self.name!r}: min_distinct needs one count per input {self.inputs}")
        if set(self.exponents) - set(self.natural_names):
            raise ValueError(f"law {self.name!r}: exponents {self.exponents} must be among {self.natural_names}")
        if self.target_scale not in ("log", "raw"):
            raise ValueError(f"law {self.name!r}: target_scale must be 'log' or 'raw'")
        if not (len(self.param_names) == len(self.natural_names) == len(self.log_scale)):
            raise ValueError(f"law {self.name!r}: param_names, natural_names and log_scale differ in length")
        for what, names in (("param_names", self.param_names), ("natural_names", self.natural_names),
                            ("inputs", self.inputs)):
            twice = sorted({n for n in names if list(names).count(n) > 1})
            if twice:
                raise ValueError(f"law {self.name!r}: {what} {tuple(names)} name {twice[0]!r} more than once; give "
                                 "every parameter and input its own name")

    # ------------------------------------------------------------------ parameters
    @property
    def distinct_needed(self) -> tuple[int, ...]:
        """Distinct values each input needs (see ``min_distinct``)."""
        if self.min_distinct is not None:
            return tuple(int(k) for k in self.min_distinct)
        return tuple(1 if name in self.constant_inputs else 2 for name in self.inputs)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def base(self) -> "Law":
        """The unconstrained law (itself here; see :func:`constrain`)."""
        return self

    @property
    def fixed(self) -> dict[str, float]:
        """Natural parameters held fixed (name -> value); empty for an unconstrained law."""
        return {}

    @property
    def tied(self) -> dict[str, str]:
        """Parameters tied to another (name -> the one it equals); empty here."""
        return {}

    def expand(self, theta: np.ndarray) -> np.ndarray:
        """Fitted ``theta[..., p]`` -> the base law's full ``theta`` (identity here)."""
        return np.asarray(theta, dtype=np.float64)

    def to_natural(self, theta: np.ndarray) -> np.ndarray:
        """Map fitted parameters ``theta[..., p]`` to natural ones (``A = exp(a)``)."""
        theta = np.asarray(theta, dtype=np.float64)
        mask = np.asarray(self.log_scale)
        return np.where(mask, np.exp(np.where(mask, theta, 0.0)), theta)

    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_natural` (``a = log A``); log-scale parameters must be positive."""
        natural = np.asarray(natural, dtype=np.float64)
        mask = np.asarray(self.log_scale)
        if np.any((natural <= 0) & mask):
            bad = [self.natural_names[j] for j in np.flatnonzero(np.any(
                np.reshape((natural <= 0) & mask, (-1, self.n_params)), axis=0))]
            raise ValueError(f"natural parameters {bad} must be > 0 for law {self.name!r}")
        return np.where(mask, np.log(np.where(mask, natural, 1.0)), natural)

    # ------------------------------------------------------------------ data <-> fitting space
    def features(self, x: np.ndarray) -> np.ndarray:
        """Inputs ``x[n, k]`` (natural units) -> ``features[n, k]`` (log or raw per input)."""
        x = np.asarray(x, dtype=np.float64)
        logs = np.asarray([s == "log" for s in self.input_scale])
        return np.where(logs, np.log(np.where(logs, x, 1.0)), x)

    def target(self, y: np.ndarray) -> np.ndarray:
        """Observed ``y`` -> fitting space (``log y`` or ``y``)."""
        y = np.asarray(y, dtype=np.float64)
        return np.log(y) if self.target_scale == "log" else y

    def untarget(self, z):
        """Fitting space -> natural units (``exp z`` or ``z``); works on numpy and jnp arrays."""
        return (jnp.exp(z) if isinstance(z, jax.Array) else np.exp(z)) if self.target_scale == "log" else z

    def predict(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Natural-scale prediction at inputs ``x[n, k]`` for ``theta[p]`` or draws ``theta[R, p]``."""
        theta = np.asarray(theta, np.float64)
        with jax.enable_x64(True):
            z = _predict_fn(self, theta.ndim == 2)(jnp.asarray(theta), jnp.asarray(self.features(x)))
            return np.asarray(self.untarget(z))

    # ------------------------------------------------------------------ hooks
    def derived(self, natural: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Derived quantities (e.g. Chinchilla's allocation exponents) from natural parameters.

        ``natural`` maps every natural name to an array (broadcast over draws). Default: none.
        """
        return {}

    @property
    def has_allocation(self) -> bool:
        """Whether :meth:`compute_optimal` applies (the law has inputs ``N`` and ``D``)."""
        return {"N", "D"} <= set(self.inputs) and all(
            self.input_scale[self.inputs.index(v)] == "log" for v in ("N", "D"))

    def compute_optimal(self, theta: np.ndarray, C: np.ndarray, **other_inputs) -> tuple[np.ndarray, np.ndarray]:
        r"""Compute-optimal ``(N_opt, D_opt)`` under :math:`C = 6ND`, broadcast over draws and budgets.

        .. math:: N_{opt}(C) = \arg\min_N \hat L(N, C / 6N; u), \qquad D_{opt} = C / (6 N_{opt})

        Default: a batched numerical search on :math:`\log N` (a 257-point grid over
        :math:`N \in [(C/6)^{0.05}, (C/6)^{0.95}]`, then golden-section refinement inside the best
        cell). Further inputs ``u`` (e.g. unique tokens ``U``) are held at ``other_inputs``.

        Parameters
        ----------
        theta : array (p,) or (R, p)
            Fitted parameters (one fit or bootstrap draws).
        C : array (m,) or scalar
            Compute budgets (FLOP).

        Returns
        -------
        N_opt, D_opt : arrays of shape ``(m,)`` or ``(R, m)`` (scalars for scalar inputs)
        """
        if not self.has_allocation:
            raise ValueError(f"compute_optimal needs a law with log-scale inputs N and D; law {self.name!r} "
                             f"has inputs {self.inputs}")
        extra = [v for v in self.inputs if v not in ("N", "D")]
        missing = [v for v in extra if v not in other_inputs]
        if missing:
            raise ValueError(f"compute_optimal for law {self.name!r} needs {missing} (e.g. {missing[0]}=...), "
                             "held fixed along C = 6ND")
        theta = np.asarray(theta, np.float64)
        C = np.asarray(C, np.float64)
        squeeze_r, squeeze_c = theta.ndim == 1, C.ndim == 0
        thetas, budgets = np.atleast_2d(theta), np.atleast_1d(C)
        fixed = np.array([float(np.asarray(other_inputs[v])) for v in extra], np.float64)
        n_opt = _numeric_optimum(self, thetas, budgets, fixed)
        d_opt = budgets[None, :] / (6.0 * n_opt)
        if squeeze_r:
            n_opt, d_opt = n_opt[0], d_opt[0]
        if squeeze_c:
            n_opt, d_opt = n_opt[..., 0], d_opt[..., 0]
        return n_opt, d_opt


@functools.lru_cache(maxsize=64)
def _predict_fn(law: Law, draws: bool):
    """Compiled ``(theta, features) -> z_hat`` (vmapped over draws ``theta[R, p]`` if ``draws``), one per law:
    repeated predictions (plots, bootstrap bands) reuse it instead of compiling again."""
    fn = jax.vmap(law.log_predict, in_axes=(0, None)) if draws else law.log_predict
    return jax.jit(fn)


def _numeric_optimum(law: Law, thetas: np.ndarray, budgets: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """``N_opt[R, m]`` minimising the prediction along ``6ND = C`` (grid, then golden section)."""
    extra_idx = [j for j, v in enumerate(law.inputs) if v not in ("N", "D")]
    extra_feats = np.array([np.log(f) if law.input_scale[j] == "log" else f
                            for j, f in zip(extra_idx, fixed)], np.float64)
    with jax.enable_x64(True):
        return np.asarray(_optimum_fn(law)(jnp.asarray(thetas), jnp.log(jnp.asarray(budgets) / 6.0),
                                           jnp.asarray(extra_feats)))


@functools.lru_cache(maxsize=64)
def _optimum_fn(law: Law):
    """Compiled ``(thetas[R, p], log(C/6)[m], extra_features[k]) -> N_opt[R, m]``, one per law (the held
    inputs such as ``U`` are arguments, so new values do not recompile)."""
    i_n, i_d = law.inputs.index("N"), law.inputs.index("D")
    extra_idx = [j for j, v in enumerate(law.inputs) if v not in ("N", "D")]
    sign = 1.0  # prediction increases with loss for both target scales

    def value(theta, log_n, log_c6, extra_feats):
        feats = jnp.zeros((log_n.shape[0], len(law.inputs)), log_n.dtype)
        feats = feats.at[:, i_n].set(log_n).at[:, i_d].set(log_c6 - log_n)
        for pos, j in enumerate(extra_idx):
            feats = feats.at[:, j].set(extra_feats[pos])
        return sign * law.log_predict(theta, feats)

    def one(theta, log_c6, extra_feats):
        lo, hi = 0.05 * log_c6, 0.95 * log_c6
        grid = jnp.linspace(lo, hi, _ALLOC_GRID)
        vals = jnp.where(jnp.isfinite(v := value(theta, grid, log_c6, extra_feats)), v, jnp.inf)
        k = jnp.argmin(vals)
        step = (hi - lo) / (_ALLOC_GRID - 1)
        a, b = grid[k] - step, grid[k] + step
        step_cell = step
        ratio = 0.5 * (np.sqrt(5.0) - 1.0)

        def body(_, ab):
            a, b = ab
            x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
            f = value(theta, jnp.stack([x1, x2]), log_c6, extra_feats)
            return jnp.where(f[0] < f[1], jnp.stack([a, x2]), jnp.stack([x1, b]))

        a, b = jax.lax.fori_loop(0, _ALLOC_GOLDEN, body, jnp.stack([a, b]))
        # Newton on the stationarity condition d value / d log N = 0: golden section stalls at
        # sqrt(eps) in log N where the value is flat; the derivative's root is exact to ~eps.
        scalar = lambda u: value(theta, u[None], log_c6, extra_feats)[0]  # noqa: E731
        grad, curv = jax.grad(scalar), jax.grad(jax.grad(scalar))
        u = 0.5 * (a + b)
        for _ in range(3):
            step = grad(u) / curv(u)
            u = jnp.where(jnp.isfinite(step) & (curv(u) > 0) & (jnp.abs(step) < step_cell), u - step, u)
        return jnp.exp(u)

    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0, None)), in_axes=(0, None, None)))


def product_grid(**axes: Sequence[float]) -> np.ndarray:
    """Cartesian product of per-parameter values, in keyword order, as a ``(K, p)`` array."""
    return np.array(list(itertools.product(*axes.values())), dtype=np.float64)


# ---------------------------------------------------------------- shared LSE kernels
def lse_terms(exponents: Sequence[Array], extra: Array | None = None) -> Array:
    r""":math:`\log(\sum_k e^{x_k} + e^{e})` over per-point exponents ``x_k`` (and a constant ``e``)."""
    terms = list(exponents)
    if extra is not None:
        terms.append(jnp.broadcast_to(extra, exponents[0].shape))
    return logsumexp(jnp.stack(terms, axis=-1), axis=-1)


def lse_terms_and_jacobian(shift, exponents, log_features, extra):
    r"""Shared analytic kernel of LSE laws with linear exponents.

    ``exponents[k]`` is :math:`x_k = c_k - \gamma_k \log X_k` (one row per point), ``extra`` a
    constant log-term :math:`e`. With :math:`u_k = e^{x_k - s}` for a per-lane shift ``s`` and
    softmax weights :math:`\sigma_k = u_k / \sum u`, the Jacobian columns are
    :math:`\partial/\partial c_k = \sigma_k`, :math:`\partial/\partial e = \sigma_e`,
    :math:`\partial/\partial \gamma_k = -\sigma_k \log X_k`.
    """
    units = [jnp.exp(x - shift) for x in exponents]
    unit_extra = jnp.exp(extra - shift)
    total = sum(units) + unit_extra
    inv = 1.0 / total
    weights = [u * inv for u in units]
    log_hat = shift + jnp.log(total)
    columns = weights + [unit_extra * inv] + [-w * f for w, f in zip(weights, log_features)]
    return log_hat, jnp.stack(columns, axis=-1)


def linear_term_max(coef, exponent, log_feature):
    """max over points of ``coef - exponent * log_feature`` (attained at an end of the range)."""
    return coef - jnp.minimum(exponent * jnp.min(log_feature), exponent * jnp.max(log_feature))
