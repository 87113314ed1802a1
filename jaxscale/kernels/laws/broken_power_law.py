r"""Broken neural scaling law (BNSL) of Caballero et al. (2023), one input ``x``.

With :math:`n` breaks (``broken_power_law`` is :math:`n = 1`):

.. math:: \hat L(x) = a + b\,x^{-c_0} \prod_{i=1}^{n}\left(1 + (x/d_i)^{1/f_i}\right)^{-c_i f_i}

``c_0`` is the slope before the first break, ``c_0 + c_1 + ...`` the slope after the breaks,
``d_i`` where break ``i`` sits and ``f_i`` its sharpness (small = sharp). In log space
:math:`\log(1 + (x/d)^{1/f}) = \mathrm{softplus}((\log x - \log d)/f)`, so

.. math:: \log\hat L = \mathrm{LSE}\Big(\log a,\; \log b - c_0\log x
          - \sum_i c_i f_i\,\mathrm{softplus}\big((\log x - \log d_i)/f_i\big)\Big).

Fitted parameters ``(log_a, log_b, c0, c1, ..., log_d1, ..., log_f1, ...)``; natural
``(a, b, c0, c1, ..., d1, ..., f1, ...)``, so ``a, b, d_i, f_i > 0`` (a loss floor
``a = 0`` is the limit ``log_a -> -inf``). The Jacobian comes from forward-mode autodiff.
"""
from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .base import Law, lse_terms, product_grid


def bnsl_log_predict(theta, log_x, n_breaks: int = 1):
    r""":math:`\log\hat L` of the BNSL with ``n_breaks`` breaks (module docs); ``log_x[:, 0] = log x``."""
    log_a, log_b, c0 = theta[0], theta[1], theta[2]
    lx = log_x[:, 0]
    body = log_b - c0 * lx
    for i in range(n_breaks):
        c, log_d, f = theta[3 + i], theta[3 + n_breaks + i], jnp.exp(theta[3 + 2 * n_breaks + i])
        body = body - c * f * jax.nn.softplus((lx - log_d) / f)
    return lse_terms([body], log_a)


def bnsl_grid(n_breaks: int = 1) -> np.ndarray:
    """Default starts. One break (792): ``a in e^{-1, 0, 1}``, ``b in e^{0, 5, 10}``, ``c0 in {0, .5}``,
    ``c1 in {.25, 1}``, ``log d1 in {0, 5, ..., 50}`` (x up to ~5e21), ``f1 in {.1, 1}``. More breaks:
    every increasing tuple of break positions from the same set, with one shared ``(c, f)`` per start."""
    log_a, log_b, c0 = np.array([-1.0, 0.0, 1.0]), np.array([0.0, 5.0, 10.0]), np.array([0.0, 0.5])
    positions = np.arange(0.0, 55.0, 5.0)
    if n_breaks == 1:
        return product_grid(log_a=log_a, log_b=log_b, c0=c0, c1=np.array([0.25, 1.0]), log_d1=positions,
                            log_f1=np.log([0.1, 1.0]))
    rows = []
    for la, lb, c, slope, sharp, where in itertools.product(log_a, log_b, c0, (0.25, 1.0), np.log([0.1, 1.0]),
                                                           itertools.combinations(positions, n_breaks)):
        rows.append([la, lb, c] + [slope] * n_breaks + list(where) + [sharp] * n_breaks)
    return np.array(rows, dtype=np.float64)


def broken_power_law(n_breaks: int = 1) -> Law:
    """The BNSL with ``n_breaks`` breaks as a :class:`Law` (register it with :func:`register_law`
    to name it in ``fit``); ``broken_power_law(1)`` is the registered ``"broken_power_law"``."""
    if int(n_breaks) != n_breaks or n_breaks < 1:
        raise ValueError(f"n_breaks must be an integer >= 1, got {n_breaks!r}")
    n = int(n_breaks)
    idx = [str(i) for i in range(1, n + 1)]
    return Law(
        name="broken_power_law" if n == 1 else f"broken_power_law_{n}",
        inputs=("x",),
        param_names=("log_a", "log_b", "c0", *(f"c{i}" for i in idx), *(f"log_d{i}" for i in idx),
                     *(f"log_f{i}" for i in idx)),
        natural_names=("a", "b", "c0", *(f"c{i}" for i in idx), *(f"d{i}" for i in idx), *(f"f{i}" for i in idx)),
        log_predict=partial(bnsl_log_predict, n_breaks=n),
        log_scale=(True, True, False) + (False,) * n + (True,) * (2 * n),
        grid=partial(bnsl_grid, n),
        example=None if n != 1 else {"params": {"a": 1.5, "b": 40.0, "c0": 0.1, "c1": 0.35, "d1": 1e8, "f1": 0.5},
                                     "inputs": {"x": (1e5, 1e11)}},
        description="L = a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i) (Caballero et al. 2023, "
                    f"{n} break{'s' if n > 1 else ''})",
    )


BROKEN_POWER_LAW = broken_power_law(1)
