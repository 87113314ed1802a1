r"""The weighted objective of one lane and its derivatives.

For residuals :math:`r_i(\theta) = y_i - \log\hat L(\theta, x_i)` and Jacobian
:math:`J_{ij} = \partial \log\hat L_i / \partial\theta_j` (forward mode, ``p`` is small):

.. math::
    f = \sum_i w_i \rho(r_i), \qquad
    g = -J^\top (w \odot \psi(r)), \qquad
    H_{GN} = J^\top \mathrm{diag}(w \odot c(r)) J .
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..laws import Law
from ..losses import Loss


class Data(NamedTuple):
    """The data of a batch, in fitting space.

    One data set: ``log_x[n, k]`` (features), ``log_y[n]`` (target) shared by every task, and
    ``weights[R, n]`` (count weights of resamples, 0/1 masks).

    Many data sets (groups) at once: ``log_x[G, m, k]``, ``log_y[G, m]`` (each group padded to
    ``m`` rows with weight 0), ``weights[R, m]`` and ``row_group[R]``, the group of each weights
    row; a task on weights row ``r`` sees only group ``row_group[r]``'s rows.
    """

    log_x: jnp.ndarray
    log_y: jnp.ndarray
    weights: jnp.ndarray
    row_group: jnp.ndarray | None = None


class Evaluation(NamedTuple):
    """One evaluation of the robust objective at a point: value, gradient, Gauss-Newton matrix and, for
    Huber, which points lie inside delta (what ``lm-warm`` watches to switch to the exact curvature)."""

    value: jnp.ndarray  # f, scalar
    grad: jnp.ndarray  # g, (p,)
    gauss_newton: jnp.ndarray  # H_GN, (p, p)
    inside: jnp.ndarray | None = None  # sum_i w_i rho''(r_i): weighted count of points inside delta (Huber)
    pattern: jnp.ndarray | None = None  # sum_i w_i rho''(r_i) c_i, c_i a fixed irrational code per row


def predict_and_jacobian(law: Law, theta: jnp.ndarray, log_x: jnp.ndarray):
    """``(log L_hat[n], J[n, p])``: the law's analytic fast path, else forward-mode autodiff."""
    if law.log_predict_and_jacobian is not None:
        return law.log_predict_and_jacobian(theta, log_x)
    log_hat, jvp_columns = jax.linearize(lambda t: law.log_predict(t, log_x), theta)
    jac = jax.vmap(jvp_columns, in_axes=1, out_axes=1)(jnp.eye(theta.shape[0], dtype=theta.dtype))
    return log_hat, jac


def evaluate(law: Law, loss: Loss, theta: jnp.ndarray, log_x: jnp.ndarray, log_y: jnp.ndarray,
             weights: jnp.ndarray, exact_curvature=False) -> Evaluation:
    r"""Objective, gradient and Gauss-Newton matrix of one lane at ``theta``.

    ``exact_curvature`` (a per-lane bool) weights ``H_GN`` by ``rho''`` instead of the IRLS
    majoriser ``loss.curvature``. Also returned: the weighted count of points where ``rho'' > 0``
    (inside delta for Huber) and a signature of that set, :math:`\sum_i w_i \rho''(r_i) c_i` with
    :math:`c_i = \mathrm{frac}(i \varphi)`, which Levenberg-Marquardt uses to see that the set
    has settled.

    ``H_GN`` is summed entry by entry over the ``p (p + 1) / 2`` distinct column pairs (one
    fused pass over the points), not as a batched matrix product (slow for ``p x n`` blocks on CPU).
    """
    log_hat, jac = predict_and_jacobian(law, theta, log_x)
    r = log_y - log_hat
    value = loss.total(r, weights)
    psi = weights * loss.psi(r)
    hessian = weights * loss.hessian(r)
    curvature = jnp.where(exact_curvature, hessian, weights * loss.curvature(r))
    p = theta.shape[0]
    columns = [jac[:, j] for j in range(p)]
    grad = -jnp.stack([jnp.sum(c * psi) for c in columns])
    entries = {}
    for i in range(p):
        weighted = columns[i] * curvature
        for j in range(i, p):
            entries[i, j] = entries[j, i] = jnp.sum(weighted * columns[j])
    gauss_newton = jnp.stack([jnp.stack([entries[i, j] for j in range(p)]) for i in range(p)])
    code = jnp.mod(jnp.arange(r.shape[0], dtype=r.dtype) * 0.6180339887498949, 1.0)
    return Evaluation(value, grad, gauss_newton, jnp.sum(hessian), jnp.sum(hessian * code))


def objective_value(law: Law, loss: Loss, theta: jnp.ndarray, log_x: jnp.ndarray, log_y: jnp.ndarray,
                    weights: jnp.ndarray) -> jnp.ndarray:
    r""":math:`\sum_i w_i \rho(y_i - \log\hat L(\theta, x_i))`; broadcasts over leading axes of ``theta``."""
    if theta.ndim > 1:
        return jax.vmap(lambda t: objective_value(law, loss, t, log_x, log_y, weights))(theta)
    return loss.total(log_y - law.log_predict(theta, log_x), weights)
