r"""Residuals with a leverage correction, and prediction intervals for a NEW run.

Two intervals answer two questions:

- the *confidence interval of the mean curve* ("mean"): where the law itself lies, the spread
  of :math:`\hat z^*_r(x)` over the bootstrap draws;
- the *prediction interval for a new run* ("new_run"): where the loss of one more training run
  at ``x`` will fall. A new run differs from the law by run-to-run noise, so each draw's
  prediction is combined with every leverage-corrected residual of the full-data fit:

  .. math:: z^{new}_{r,i}(x) = \hat z^*_r(x) + \tilde r_i, \qquad r = 1..R,\ i = 1..n,

  and the interval is the :math:`(1 \pm level)/2` quantile pair of all :math:`R n` values (the
  exact convolution of the two empirical distributions, no extra randomness). ``z`` is the
  fitting space: :math:`\log L` for loss laws (the interval is multiplicative in ``L``), ``y``
  itself for raw-target laws.

Residual estimator
    :math:`r_i = z_i - \hat z(\hat\theta; x_i)` at the full-data estimate, divided by
    :math:`\sqrt{1 - h_{ii}}`, with :math:`h_{ii}` the diagonal of the hat matrix of the IRLS
    (Huber-weighted Gauss-Newton) linearisation at the optimum,

    .. math:: H = C^{1/2} J (J^\top C J)^{-1} J^\top C^{1/2}, \qquad
              C = \mathrm{diag}\big(w_i\, \psi(r_i)/r_i\big) = \mathrm{diag}\big(w_i \min(1, \delta/|r_i|)\big),

    because fitted residuals are shrunk toward zero by about :math:`\sqrt{1-h_{ii}}`. It is
    robust under Huber: points far outside :math:`\delta` carry IRLS weight
    :math:`\delta/|r_i| \ll 1`, hence almost no leverage, and keep their residual; the
    empirical residuals are used as they are (no Gaussian or variance assumption, no centring:
    at a Huber optimum of an LSE law the residuals' Huber location is already ~0), so heavy
    tails widen the interval exactly as often as they occur in the data. For clusters the
    block version :math:`\tilde r_g = C_g^{-1/2}(I - H_{gg})^{-1/2} C_g^{1/2} r_g` (CR2) is used by
    the wild cluster bootstrap.
"""
from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import float64
from ..engine.batching import row_bucket
from ..kernels.laws import Law
from ..kernels.losses import Loss
from ..kernels.solvers.objective import predict_and_jacobian

#: Points x (R x n) values evaluated per quantile batch (memory bound, ~160 MB of float64).
_BATCH_VALUES = 20_000_000


@lru_cache(maxsize=64)
def _fitted_and_jacobian_fn(law: Law):
    """One compiled ``(theta, log_x) -> (z_hat, J)`` per law: a repeated call does not compile again."""
    return jax.jit(lambda t, x: predict_and_jacobian(law, t, x))


def fitted_and_jacobian(law: Law, theta: np.ndarray, log_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(z_hat[n], J[n, p])`` of ``law`` at ``theta`` in fitting space (analytic or forward-mode).

    The points are padded (copies of the first) to their :func:`~jaxscale.engine.batching.row_bucket`, so
    one compiled program per law serves every data size of a bucket; each point's values are its own."""
    log_x = np.asarray(log_x, np.float64)
    n = log_x.shape[0]
    padded = np.concatenate([log_x, np.repeat(log_x[:1], row_bucket(n) - n, axis=0)]) if n else log_x
    with float64():
        z, jac = _fitted_and_jacobian_fn(law)(jnp.asarray(theta, jnp.float64), jnp.asarray(padded, jnp.float64))
        return np.asarray(z)[:n], np.asarray(jac)[:n]


def irls_weights(loss: Loss, residuals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r""":math:`w_i\, c(r_i)`: the data weight times the loss's IRLS curvature (Huber: :math:`\min(1, \delta/|r|)`)."""
    with float64():
        return np.asarray(weights * np.asarray(loss.curvature(jnp.asarray(residuals, jnp.float64))))


def _sqrt_c_hat(jac: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``C^{1/2} J (J^T C J)^{+} J^T C^{1/2}`` (pseudo-inverse: flat directions give no leverage)."""
    scaled = jac * np.sqrt(c)[:, None]
    return scaled @ np.linalg.pinv(scaled.T @ scaled, rcond=1e-12) @ scaled.T


def corrected_residuals(law: Law, loss: Loss, theta: np.ndarray, log_x: np.ndarray, log_y: np.ndarray,
                        weights: np.ndarray | None = None, clusters: np.ndarray | None = None,
                        correction: str = "CR2") -> np.ndarray:
    r"""Leverage-corrected residuals :math:`\tilde r` at ``theta`` (see the module docstring).

    Parameters
    ----------
    law, loss : the fitted model and its loss
    theta : array (p,)
        The estimate (fitted space).
    log_x, log_y : arrays (n, k), (n,)
        Features and target in fitting space.
    weights : array (n,), optional
        Data weights; rows with weight 0 (held out) get no correction and do not enter ``H``.
    clusters : int array (n,), optional
        Cluster of each row (``-1``: not in any). Without it every row is its own cluster:
        :math:`\tilde r_i = r_i / \sqrt{1 - h_{ii}}`.
    correction : {"CR2", "CR3"}
        Blocks :math:`(I - H_{gg})^{-1/2}` (CR2, Bell & McCaffrey) or :math:`(I - H_{gg})^{-1}` (CR3,
        jackknife-like: the residual the cluster would have if left out of the fit).

    Returns
    -------
    array (n,)
    """
    w = np.ones(len(log_y)) if weights is None else np.asarray(weights, np.float64)
    z, jac = fitted_and_jacobian(law, theta, log_x)
    r = np.asarray(log_y, np.float64) - z
    c = np.where(w > 0, irls_weights(loss, r, w), 0.0)
    if clusters is None:
        inv = np.linalg.pinv((jac * c[:, None]).T @ jac, rcond=1e-12)
        h = c * np.einsum("ij,jk,ik->i", jac, inv, jac)  # h_ii = c_i j_i^T (J^T C J)^+ j_i
        return np.where(w > 0, r / np.sqrt(np.clip(1.0 - h, 1e-12, None)), r)
    if correction not in ("CR2", "CR3"):
        raise ValueError(f"correction must be 'CR2' or 'CR3', got {correction!r}")
    power = 0.5 if correction == "CR2" else 1.0
    hat = _sqrt_c_hat(jac, c)
    out = r.copy()
    codes = np.asarray(clusters)
    for g in np.unique(codes[codes >= 0]):
        rows = np.flatnonzero((codes == g) & (w > 0))
        if rows.size == 0:
            continue
        vals, vecs = np.linalg.eigh(np.eye(rows.size) - hat[np.ix_(rows, rows)])
        inv_root = (vecs / np.clip(vals, 1e-12, None) ** power) @ vecs.T
        root = np.sqrt(c[rows])
        out[rows] = (inv_root @ (root * r[rows])) / np.where(root > 0, root, 1.0)
    return out


def quantile_pair(level: float) -> np.ndarray:
    tail = (1.0 - level) / 2.0
    return np.array([tail, 1.0 - tail])


def new_run_bounds(draws_z: np.ndarray, residuals: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Prediction-interval bounds in fitting space: quantiles over all :math:`\hat z^*_r + \tilde r_i`.

    ``draws_z[R, m]`` (draws' predictions at ``m`` points, non-finite draws dropped per point),
    ``residuals[n]``; returns ``(low[m], high[m])``.
    """
    draws_z = np.asarray(draws_z, np.float64)
    res = np.asarray(residuals, np.float64)
    res = res[np.isfinite(res)]
    if res.size == 0:
        raise ValueError("no finite residuals to build a prediction interval from")
    q = quantile_pair(level)
    m = draws_z.shape[1]
    low, high = np.empty(m), np.empty(m)
    per_batch = max(1, _BATCH_VALUES // max(1, draws_z.shape[0] * res.size))
    for lo in range(0, m, per_batch):
        block = draws_z[:, lo:lo + per_batch]
        for j in range(block.shape[1]):
            col = block[:, j]
            col = col[np.isfinite(col)]
            if col.size == 0:
                low[lo + j] = high[lo + j] = np.nan
                continue
            low[lo + j], high[lo + j] = np.quantile((col[:, None] + res[None, :]).ravel(), q)
    return low, high
