"""Scaling laws as pure log-space functions.

A :class:`Law` predicts ``log L`` from the logarithms of its inputs. Parameters live in
log space wherever a coefficient must stay positive (``a = log A``), which keeps every
prediction a log-sum-exp and every fit unconstrained. Solvers only ever see
``law.log_predict(theta, log_x)``; adding a law never touches a solver.

Where is the Chinchilla formula? :func:`chinchilla_log_predict`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import jax.numpy as jnp
import numpy as np
from jax.nn import logsumexp

Array = jnp.ndarray


@dataclass(frozen=True, eq=False)
class Law:
    """A scaling law ``log L_hat = log_predict(theta, log_x)``.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"chinchilla"``.
    inputs : tuple of str
        Names of the input variables in the column order of ``log_x`` (e.g. ``("N", "D")``).
    param_names : tuple of str
        Names of the fitted (log-space) parameters, in the order of ``theta``.
    natural_names : tuple of str
        Names of the reported parameters, in the same order (``a -> A = exp(a)``).
    log_predict : callable
        ``(theta[p], log_x[n, k]) -> log L_hat[n]``; pure ``jnp``, differentiable.
    log_scale : tuple of bool
        ``log_scale[j]`` is True when natural parameter ``j`` equals ``exp(theta[j])``.
    grid : callable
        ``() -> ndarray[K, p]``: the law's default start grid in log space.
    log_predict_and_jacobian : callable or None
        Optional fast path ``(theta, log_x) -> (log L_hat[n], J[n, p])`` with
        ``J = d log L_hat / d theta``; solvers fall back to forward-mode autodiff when None.
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

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def to_natural(self, theta: np.ndarray) -> np.ndarray:
        """Map log-space parameters ``theta[..., p]`` to natural ones (``A = exp(a)``)."""
        theta = np.asarray(theta, dtype=np.float64)
        mask = np.asarray(self.log_scale)
        return np.where(mask, np.exp(np.where(mask, theta, 0.0)), theta)

    def from_natural(self, natural: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_natural` (``a = log A``); coefficients must be positive."""
        natural = np.asarray(natural, dtype=np.float64)
        mask = np.asarray(self.log_scale)
        if np.any((natural <= 0) & mask):
            bad = [self.natural_names[j] for j in np.flatnonzero(np.any(
                np.reshape((natural <= 0) & mask, (-1, self.n_params)), axis=0))]
            raise ValueError(f"natural parameters {bad} must be > 0 for law {self.name!r}")
        return np.where(mask, np.log(np.where(mask, natural, 1.0)), natural)


def product_grid(**axes: Sequence[float]) -> np.ndarray:
    """Cartesian product of per-parameter values, in keyword order, as an ``(K, p)`` array."""
    return np.array(list(itertools.product(*axes.values())), dtype=np.float64)


# ---------------------------------------------------------------- Chinchilla
def chinchilla_log_predict(theta: Array, log_x: Array) -> Array:
    r"""Hoffmann et al. (2022) law in log space.

    .. math::
        \log \hat L = \mathrm{LSE}(a - \alpha \log N,\; b - \beta \log D,\; e)
        \iff \hat L = E + A / N^{\alpha} + B / D^{\beta}

    ``theta = (a, b, e, alpha, beta)``, ``log_x[:, 0] = log N``, ``log_x[:, 1] = log D``.
    """
    a, b, e, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
    terms = jnp.stack(
        [a - alpha * log_x[:, 0], b - beta * log_x[:, 1], jnp.broadcast_to(e, log_x[:, 0].shape)],
        axis=-1,
    )
    return logsumexp(terms, axis=-1)


def _lse_terms_and_jacobian(shift, exponents, log_features, extra):
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


def _linear_term_max(coef, exponent, log_feature):
    """max over points of ``coef - exponent * log_feature`` (attained at an end of the range)."""
    return coef - jnp.minimum(exponent * jnp.min(log_feature), exponent * jnp.max(log_feature))


def chinchilla_log_predict_and_jacobian(theta: Array, log_x: Array) -> tuple[Array, Array]:
    """Analytic ``(log L_hat, d log L_hat / d theta)`` of :func:`chinchilla_log_predict`.

    Uses one shift per lane (the largest term over all points), so each point costs two
    exponentials and one logarithm. Columns are ordered ``(a, b, e, alpha, beta)``.
    """
    a, b, e, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
    log_n, log_d = log_x[:, 0], log_x[:, 1]
    shift = jnp.maximum(jnp.maximum(_linear_term_max(a, alpha, log_n), _linear_term_max(b, beta, log_d)), e)
    log_hat, jac = _lse_terms_and_jacobian(shift, [a - alpha * log_n, b - beta * log_d], [log_n, log_d], e)
    return log_hat, jac


def chinchilla_grid() -> np.ndarray:
    """Hoffmann et al. App. D.2 initialisation grid as used by Epoch: 4500 starts.

    ``alpha, beta in {0, .5, 1, 1.5, 2}``, ``e in {-1, -.5, 0, .5, 1}``,
    ``a, b in {0, 5, ..., 25}``; columns ordered ``(a, b, e, alpha, beta)``.
    """
    a = b = np.arange(0.0, 30.0, 5.0)
    e = np.arange(-1.0, 1.5, 0.5)
    exponents = np.arange(0.0, 2.5, 0.5)
    return product_grid(a=a, b=b, e=e, alpha=exponents, beta=exponents)


CHINCHILLA = Law(
    name="chinchilla",
    inputs=("N", "D"),
    param_names=("a", "b", "e", "alpha", "beta"),
    natural_names=("A", "B", "E", "alpha", "beta"),
    log_predict=chinchilla_log_predict,
    log_scale=(True, True, True, False, False),
    grid=chinchilla_grid,
    log_predict_and_jacobian=chinchilla_log_predict_and_jacobian,
)


# ---------------------------------------------------------------- single-variable power law
def power_law_log_predict(theta: Array, log_x: Array) -> Array:
    r"""Saturating power law in one variable: :math:`\hat L = E + A / X^{\alpha}`.

    ``theta = (a, e, alpha)``; ``log_x[:, 0] = log X``.
    """
    a, e, alpha = theta[0], theta[1], theta[2]
    terms = jnp.stack([a - alpha * log_x[:, 0], jnp.broadcast_to(e, log_x[:, 0].shape)], axis=-1)
    return logsumexp(terms, axis=-1)


def power_law_log_predict_and_jacobian(theta: Array, log_x: Array) -> tuple[Array, Array]:
    """Analytic ``(log L_hat, J)`` of :func:`power_law_log_predict`; columns ``(a, e, alpha)``."""
    a, e, alpha = theta[0], theta[1], theta[2]
    log_n = log_x[:, 0]
    shift = jnp.maximum(_linear_term_max(a, alpha, log_n), e)
    return _lse_terms_and_jacobian(shift, [a - alpha * log_n], [log_n], e)


def power_law_grid() -> np.ndarray:
    """Default starts for :data:`POWER_LAW`: ``a in {0..25}``, ``e in {-1..1}``, ``alpha in {0..2}``."""
    return product_grid(
        a=np.arange(0.0, 30.0, 5.0), e=np.arange(-1.0, 1.5, 0.5), alpha=np.arange(0.0, 2.5, 0.5)
    )


POWER_LAW = Law(
    name="power_law",
    inputs=("N",),
    param_names=("a", "e", "alpha"),
    natural_names=("A", "E", "alpha"),
    log_predict=power_law_log_predict,
    log_scale=(True, True, False),
    grid=power_law_grid,
    log_predict_and_jacobian=power_law_log_predict_and_jacobian,
)


LAWS: dict[str, Law] = {law.name: law for law in (CHINCHILLA, POWER_LAW)}


def get_law(law: str | Law) -> Law:
    """Return a registered :class:`Law` by name, or ``law`` itself if it already is one."""
    if isinstance(law, Law):
        return law
    try:
        return LAWS[law]
    except KeyError:
        raise ValueError(f"unknown law {law!r}; choose one of {sorted(LAWS)} or pass a jaxscale.Law") from None
