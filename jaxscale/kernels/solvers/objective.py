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
    value: jnp.ndarray  # f, scalar
    grad: jnp.ndarray  # g, (p,)
    gauss_newton: jnp.ndarray  # H_GN, (p, p)


def predict_and_jacobian(law: Law, theta: jnp.ndarray, log_x: jnp.ndarray):
    """``(log L_hat[n], J[n, p])``: the law's analytic fast path, else forward-mode autodiff."""
    if law.log_predict_and_jacobian is not None:
        return law.log_predict_and_jacobian(theta, log_x)
    log_hat, jvp_columns = jax.linearize(lambda t: law.log_predict(t, log_x), theta)
    jac = jax.vmap(jvp_columns, in_axes=1, out_axes=1)(jnp.eye(theta.shape[0], dtype=theta.dtype))
    return log_hat, jac


def evaluate(law: Law, loss: Loss, theta: jnp.ndarray, log_x: jnp.ndarray, log_y: jnp.ndarray,
             weights: jnp.ndarray, exact_curvature=False) -> Evaluation:
    """Objective, gradient and Gauss-Newton matrix of one lane at ``theta``.

    ``exact_curvature`` (a per-lane bool) weights ``H_GN`` by ``rho''`` instead of the IRLS
    majoriser ``loss.curvature``.
    """
    log_hat, jac = predict_and_jacobian(law, theta, log_x)
    r = log_y - log_hat
    value = loss.total(r, weights)
    grad = -jac.T @ (weights * loss.psi(r))
    curvature = jnp.where(exact_curvature, loss.hessian(r), loss.curvature(r))
    gauss_newton = (jac * (weights * curvature)[:, None]).T @ jac
    return Evaluation(value, grad, gauss_newton)


def objective_value(law: Law, loss: Loss, theta: jnp.ndarray, log_x: jnp.ndarray, log_y: jnp.ndarray,
                    weights: jnp.ndarray) -> jnp.ndarray:
    r""":math:`\sum_i w_i \rho(y_i - \log\hat L(\theta, x_i))`; broadcasts over leading axes of ``theta``."""
    if theta.ndim > 1:
        return jax.vmap(lambda t: objective_value(law, loss, t, log_x, log_y, weights))(theta)
    return loss.total(log_y - law.log_predict(theta, log_x), weights)
