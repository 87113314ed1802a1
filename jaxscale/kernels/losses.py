r"""Robust and plain losses on log-loss residuals, with per-point weights.

Every loss is ``sum_i w_i * rho(r_i)`` with ``r_i = log L_i - log L_hat_i``. The weights
``w`` express the full-data fit (``w = 1``), a bootstrap case resample (``w`` = counts),
masks and padding (``w = 0``) with one kernel over one shared data array.

A :class:`Loss` carries ``rho`` (value), ``psi = rho'`` (for gradients) and a
Gauss-Newton curvature weight (for Levenberg-Marquardt / IRLS).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray


@dataclass(frozen=True, eq=False)
class Loss:
    """An elementwise loss ``rho`` with its derivative and a curvature weight.

    Attributes
    ----------
    name : str
    rho : callable ``r -> rho(r)``
    psi : callable ``r -> d rho / d r``
    curvature : callable ``r -> c(r)``
        Weight of ``J^T diag(w c) J`` in the Gauss-Newton model. For Huber this is the IRLS
        weight ``psi(r) / r``, whose quadratic majorises the loss (robust far from a minimum).
    hessian : callable ``r -> rho''(r)``
        The exact second derivative (Huber: 1 inside delta, 0 outside): the Gauss-Newton
        weight that converges fast once the set of points inside delta has settled.
    params : tuple
        Hashable description (e.g. ``(("delta", 1e-3),)``) for recipes and caching.
    """

    name: str
    rho: Callable[[Array], Array]
    psi: Callable[[Array], Array]
    curvature: Callable[[Array], Array]
    hessian: Callable[[Array], Array]
    params: tuple = ()

    def _key(self):
        return (self.name, self.params, self.rho, self.psi, self.curvature, self.hessian)

    def __eq__(self, other: object) -> bool:
        # Compiled kernels are cached by the loss, so equality must include the functions: two user
        # losses that share a name but not their maths are different. The built-in factories return
        # one cached instance per setting, so equal recipes still compile once.
        return isinstance(other, Loss) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self):
        # A built-in loss travels (to a Dask worker, say) as its factory call, so the copy there IS that
        # process's cached instance and hits the same compiled kernels instead of compiling per chunk.
        if self.name == "huber" and self.params and self is _huber(dict(self.params)["delta"]):
            return (huber, (dict(self.params)["delta"],))
        if self.name == "squared" and self is squared():
            return (squared, ())
        if self.name == "asymmetric_huber" and self is _asymmetric_huber(*(v for _, v in self.params)):
            return (asymmetric_huber, tuple(v for _, v in self.params))
        return (Loss, (self.name, self.rho, self.psi, self.curvature, self.hessian, self.params))

    def total(self, residuals: Array, weights: Array) -> Array:
        r""":math:`\sum_i w_i \rho(r_i)` over the last axis."""
        return jnp.sum(weights * self.rho(residuals), axis=-1)


def huber_rho(r: Array, delta: float) -> Array:
    r"""Huber function :math:`r^2/2` if :math:`|r| \le \delta`, else :math:`\delta(|r| - \delta/2)`."""
    abs_r = jnp.abs(r)
    return jnp.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def huber(delta: float = 1e-3) -> Loss:
    """See :func:`_huber`; validated, then one cached instance per ``delta``."""
    try:
        delta = float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"Huber delta must be a number > 0, got {delta!r}") from None
    if not (delta > 0 and np.isfinite(delta)):
        raise ValueError(f"Huber delta must be a finite number > 0, got {delta!r}")
    return _huber(delta)


@lru_cache(maxsize=None)
def _huber(delta: float) -> Loss:
    r"""Huber loss summed over points (Hoffmann et al. 2022; Epoch AI 2024), default :math:`\delta = 10^{-3}`.

    .. math:: \sum_i w_i\, H_\delta(r_i), \quad H_\delta'(r) = \mathrm{clip}(r, -\delta, \delta),
              \quad c(r) = \min(1, \delta / |r|)
    """
    return Loss(
        name="huber",
        rho=lambda r: huber_rho(r, delta),
        psi=lambda r: jnp.clip(r, -delta, delta),
        curvature=lambda r: jnp.minimum(1.0, delta / jnp.maximum(jnp.abs(r), 1e-300)),
        hessian=lambda r: (jnp.abs(r) <= delta).astype(r.dtype),
        params=(("delta", delta),),
    )


#: OLMo-core's suggested overestimate penalty when the law should trace the lower bound of achievable loss.
OVERESTIMATE_PENALTY = 10.0


def asymmetric_huber(delta: float = 1e-3, overestimate_penalty: float = OVERESTIMATE_PENALTY) -> Loss:
    """See :func:`_asymmetric_huber`; validated, then one cached instance per setting."""
    huber(delta)  # validates delta with its error message
    try:
        penalty = float(overestimate_penalty)
    except (TypeError, ValueError):
        raise ValueError(f"overestimate_penalty must be a number >= 1, got {overestimate_penalty!r}") from None
    if not (np.isfinite(penalty) and penalty >= 1.0):
        raise ValueError(f"overestimate_penalty must be a finite number >= 1 (1 is plain Huber), got "
                         f"{overestimate_penalty!r}")
    return _asymmetric_huber(float(delta), penalty)


@lru_cache(maxsize=None)
def _asymmetric_huber(delta: float, overestimate_penalty: float) -> Loss:
    r"""Huber with a heavier penalty for over-estimates, as OLMo-core's model ladder fits the best achievable loss.

    With :math:`r = \log L - \log\hat L` (an over-estimate :math:`\hat L > L` has :math:`r < 0`) and
    :math:`k(r) = \kappa` for :math:`r < 0`, else 1 (:math:`\kappa` = ``overestimate_penalty`` >= 1):

    .. math:: \rho(r) = k(r)\,H_\delta(r), \quad \psi(r) = k(r)\,\mathrm{clip}(r, -\delta, \delta),
              \quad c(r) = k(r)\min(1, \delta/|r|), \quad \rho''(r) = k(r)\,[|r| \le \delta].

    The fit then sits below most points (a lower envelope): with :math:`\kappa = 1` it is :func:`huber`.
    ``rho`` is convex with a continuous ``psi`` (0 at ``r = 0`` from both sides); only the curvature jumps
    at 0 (:math:`\kappa` vs 1), so the Gauss-Newton/IRLS solvers apply unchanged. OLMo-core suggests :math:`\kappa = 10` for the lower bound
    (``overestimate_penalty`` of ``ChinchillaParametricFit.fit``).
    """
    k = overestimate_penalty

    def side(r):
        return jnp.where(r < 0, k, 1.0)

    return Loss(
        name="asymmetric_huber",
        rho=lambda r: side(r) * huber_rho(r, delta),
        psi=lambda r: side(r) * jnp.clip(r, -delta, delta),
        curvature=lambda r: side(r) * jnp.minimum(1.0, delta / jnp.maximum(jnp.abs(r), 1e-300)),
        hessian=lambda r: side(r) * (jnp.abs(r) <= delta).astype(r.dtype),
        params=(("delta", delta), ("overestimate_penalty", k)),
    )


@lru_cache(maxsize=None)
def squared() -> Loss:
    r"""Squared error :math:`\sum_i w_i r_i^2 / 2` (Huber with :math:`\delta = \infty`)."""
    return Loss(
        name="squared",
        rho=lambda r: 0.5 * r * r,
        psi=lambda r: r,
        curvature=lambda r: jnp.ones_like(r),
        hessian=lambda r: jnp.ones_like(r),
    )


def get_loss(loss: str | Loss, delta: float = 1e-3, overestimate_penalty: float = OVERESTIMATE_PENALTY) -> Loss:
    """Loss by name (``"huber"`` with ``delta``, ``"asymmetric_huber"`` with ``delta`` and
    ``overestimate_penalty``, or ``"squared"``), or ``loss`` itself."""
    if isinstance(loss, Loss):
        return loss
    if loss == "huber":
        return huber(delta)
    if loss == "asymmetric_huber":
        return asymmetric_huber(delta, overestimate_penalty)
    if loss in ("squared", "mse", "l2"):
        return squared()
    raise ValueError(f"unknown loss {loss!r}; choose 'huber', 'asymmetric_huber' or 'squared'")
