r"""IsoFLOP maths of Hoffmann et al. (2022), Approaches 1 and 2, as pure ``jnp`` on padded, weighted arrays.

Approach 2 (isoFLOP profiles). One compute budget is a row of padded arrays: ``x[M]`` (centred
:math:`\ln N`), ``y[M]`` (final loss) and ``w[M]`` (count weights of a bootstrap resample; 0 marks
padding and runs not drawn). Per budget the loss profile :math:`L(x)` is fitted by weighted least
squares or a Huber M-estimate (IRLS) and its minimum :math:`x^*` is taken:

- ``parabola``: :math:`L = c_0 + c_1 x + c_2 x^2`, :math:`x^* = -c_1 / (2 c_2)` (a minimum only if
  :math:`c_2 > 0`);
- ``profile``: the Chinchilla law on the isoFLOP line :math:`D = C / (6N)`,
  :math:`L = E + A e^{-\alpha x} + B e^{\beta x}` (because :math:`B D^{-\beta} \propto N^{\beta}` at
  fixed :math:`C`); for each :math:`(\alpha, \beta)` of a grid :math:`(E, A, B)` is a linear fit
  (variable projection), the best grid point is kept, and
  :math:`x^* = \ln(\alpha A / (\beta B)) / (\alpha + \beta)` (a minimum only if :math:`A, B > 0`).
  The profile is asymmetric, as the true one is, so its minimum is not biased by a sampled range
  that is lopsided around the optimum (the parabola's is; Czech et al.).

Then the minima of all budgets give the power law :math:`\log_{10} N_{opt} = \log_{10} k + a \log_{10} C`
by least squares over budgets (:func:`power_law_fit`).

Approach 1 (training-curve envelope, :func:`interpolate_curves`, :func:`envelope`): each run's loss is interpolated on a grid of
:math:`\log C`; at each grid point the run with the lowest loss sets :math:`N_{opt}(C)`.

Everything is written for one budget / one resample and batched with ``vmap`` by the engine and api.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .losses import huber_rho

Array = jnp.ndarray

#: Huber tuning constant: 95 % efficiency under normal errors (Huber 1964), in units of the robust scale.
HUBER_K = 1.345
#: Normal consistency factor of the median absolute deviation.
MAD_NORMAL = 1.4826
#: Exponent grid of the ``profile`` method (both alpha and beta).
PROFILE_EXPONENTS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def weighted_median(values: Array, weights: Array) -> Array:
    """Median of ``values`` with non-negative ``weights`` (the lowest value whose cumulative weight
    reaches half the total); zero-weight entries never count."""
    order = jnp.argsort(values)
    cumulative = jnp.cumsum(weights[order])
    first = jnp.argmax(cumulative >= 0.5 * cumulative[-1])
    return values[order][first]


def distinct_count(x: Array, w: Array) -> Array:
    """Number of distinct values of ``x`` among entries with ``w > 0``."""
    on = w > 0
    earlier = jnp.tril(jnp.ones((x.size, x.size), bool), k=-1)
    repeated = jnp.any(earlier & on[None, :] & (x[:, None] == x[None, :]), axis=1)
    return jnp.sum(on & ~repeated)


def weighted_lstsq(basis: Array, y: Array, w: Array) -> Array:
    r"""Coefficients :math:`c` minimising :math:`\sum_i w_i (y_i - B_i c)^2` (normal equations)."""
    weighted = basis * w[:, None]
    return jnp.linalg.solve(weighted.T @ basis, weighted.T @ y)


def huber_irls(basis: Array, y: Array, w: Array, n_iter: int, delta: Array | None = None) -> tuple[Array, Array]:
    r"""Huber M-estimate of a linear model by iteratively reweighted least squares.

    Minimises :math:`\sum_i w_i H_\delta(y_i - B_i c)` starting from the least-squares fit, with
    IRLS weights :math:`w_i \min(1, \delta / |r_i|)`. With ``delta=None`` the threshold follows the
    residuals: :math:`\delta = 1.345 \cdot 1.4826\, \mathrm{median}_w |r|` re-estimated every
    iteration (Huber's M-estimator with MAD scale). Returns ``(c, delta)``.
    """
    tiny = jnp.finfo(y.dtype).tiny

    def threshold(c):
        if delta is not None:
            return delta
        scale = MAD_NORMAL * weighted_median(jnp.abs(y - basis @ c), w)
        return jnp.maximum(HUBER_K * scale, 1e-12 * jnp.maximum(jnp.max(jnp.abs(y) * (w > 0)), tiny))

    def step(_, c):
        r = y - basis @ c
        d = threshold(c)
        return weighted_lstsq(basis, y, w * jnp.minimum(1.0, d / jnp.maximum(jnp.abs(r), tiny)))

    coef = jax.lax.fori_loop(0, n_iter, step, weighted_lstsq(basis, y, w))
    return coef, threshold(coef)


def parabola_basis(x: Array) -> Array:
    """Columns ``1, x, x^2``."""
    return jnp.stack([jnp.ones_like(x), x, x * x], axis=-1)


def parabola_minimum(coef: Array) -> tuple[Array, Array]:
    r"""Vertex :math:`x^* = -c_1/(2c_2)` and :math:`L(x^*)`; NaN where :math:`c_2 \le 0` (no minimum)."""
    c0, c1, c2 = coef
    x_star = jnp.where(c2 > 0, -c1 / (2.0 * jnp.where(c2 > 0, c2, 1.0)), jnp.nan)
    return x_star, c0 + c1 * x_star + c2 * x_star * x_star


def profile_basis(x: Array, alpha: Array, beta: Array) -> Array:
    r"""Columns ``1, exp(-alpha x), exp(beta x)`` of the Chinchilla-shaped isoFLOP profile."""
    return jnp.stack([jnp.ones_like(x), jnp.exp(-alpha * x), jnp.exp(beta * x)], axis=-1)


def profile_minimum(coef: Array, alpha: Array, beta: Array) -> tuple[Array, Array]:
    r"""Minimum of :math:`E + A e^{-\alpha x} + B e^{\beta x}`:
    :math:`x^* = \ln(\alpha A/(\beta B))/(\alpha+\beta)`; NaN unless :math:`A, B > 0`."""
    e, a, b = coef
    ok = (a > 0) & (b > 0)
    x_star = jnp.where(ok, jnp.log(jnp.where(ok, alpha * a / (beta * b), 1.0)) / (alpha + beta), jnp.nan)
    return x_star, e + a * jnp.exp(-alpha * x_star) + b * jnp.exp(beta * x_star)


def fit_parabola(x: Array, y: Array, w: Array, robust: bool, n_iter: int) -> tuple[Array, Array]:
    """Parabola coefficients (Huber IRLS with MAD scale when ``robust``) and the Huber threshold used
    (``inf`` for least squares)."""
    basis = parabola_basis(x)
    if robust:
        return huber_irls(basis, y, w, n_iter)
    return weighted_lstsq(basis, y, w), jnp.asarray(jnp.inf, y.dtype)


def fit_profile(x: Array, y: Array, w: Array, exponents: Array, robust: bool, delta: Array,
                n_iter: int) -> tuple[Array, Array, Array]:
    r"""Best Chinchilla-shaped profile over the grid ``exponents x exponents`` of :math:`(\alpha, \beta)`.

    For each pair the linear coefficients minimise the Huber sum with the fixed threshold ``delta``
    (``robust``) or the squared error; pairs giving no interior minimum (:math:`A \le 0` or
    :math:`B \le 0`) are not admissible. Returns ``(coef, alpha, beta)`` of the admissible pair with
    the lowest objective (NaN coefficients if none is admissible).
    """
    alphas, betas = jnp.meshgrid(exponents, exponents, indexing="ij")
    alphas, betas = alphas.ravel(), betas.ravel()

    def one(alpha, beta):
        basis = profile_basis(x, alpha, beta)
        if robust:
            coef, _ = huber_irls(basis, y, w, n_iter, delta)
            value = jnp.sum(w * huber_rho(y - basis @ coef, delta))
        else:
            coef = weighted_lstsq(basis, y, w)
            value = jnp.sum(w * (y - basis @ coef) ** 2)
        admissible = (coef[1] > 0) & (coef[2] > 0) & jnp.isfinite(value)
        return coef, jnp.where(admissible, value, jnp.inf)

    coefs, values = jax.vmap(one)(alphas, betas)
    best = jnp.argmin(values)
    found = jnp.isfinite(values[best])
    return jnp.where(found, coefs[best], jnp.nan), alphas[best], betas[best]


def budget_minimum(x: Array, y: Array, w: Array, method: str, robust: bool, n_iter: int,
                   exponents: Array | None = None) -> tuple[Array, Array, Array]:
    r"""Minimum :math:`(x^*, L^*)` of one budget's fitted loss profile and the parabola's curvature.

    ``x^*`` is NaN where the profile has no minimum or the weighted runs hold fewer than 3
    distinct model sizes (a parabola through 2 sizes is not identified).
    """
    coef, delta = fit_parabola(x, y, w, robust, n_iter)
    curvature = coef[2]
    if method == "parabola":
        x_star, l_star = parabola_minimum(coef)
    elif method == "profile":
        pcoef, alpha, beta = fit_profile(x, y, w, exponents, robust, delta, n_iter)
        x_star, l_star = profile_minimum(pcoef, alpha, beta)
    else:
        raise ValueError(f"unknown isoFLOP method {method!r}; choose 'parabola' or 'profile'")
    identified = distinct_count(x, w) >= 3
    return jnp.where(identified, x_star, jnp.nan), jnp.where(identified, l_star, jnp.nan), curvature


def bracketed(x: Array, y: Array, w: Array) -> Array:
    r"""Whether the lowest observed loss lies strictly inside the sampled sizes (a bracketed minimum).

    Among the runs with :math:`w > 0`, the run of lowest :math:`y` has :math:`x` above the smallest
    and below the largest sampled :math:`x`. Where it sits at an end, the data show no minimum: the
    loss still falls beyond the sizes trained, and any fitted vertex is an extrapolation.
    """
    on = w > 0
    best_x = x[jnp.argmin(jnp.where(on, y, jnp.inf))]
    lowest = jnp.min(jnp.where(on, x, jnp.inf))
    highest = jnp.max(jnp.where(on, x, -jnp.inf))
    return (best_x > lowest) & (best_x < highest)


def power_law_fit(log_c: Array, log_n: Array, use: Array) -> tuple[Array, Array]:
    r"""Least-squares line :math:`\log N = \log k + a \log C` through the points with ``use``.

    ``(a, log k)``; NaN when fewer than 2 distinct :math:`\log C` are used.
    """
    use = use & jnp.isfinite(log_n)
    w = use.astype(log_c.dtype)
    total = jnp.sum(w)
    safe = jnp.maximum(total, 1.0)
    mean_c = jnp.sum(w * log_c) / safe
    mean_n = jnp.sum(w * jnp.where(use, log_n, 0.0)) / safe
    dc = jnp.where(use, log_c - mean_c, 0.0)
    dn = jnp.where(use, log_n - mean_n, 0.0)
    var = jnp.sum(w * dc * dc)
    ok = (total >= 2) & (var > 0)
    slope = jnp.where(ok, jnp.sum(w * dc * dn) / jnp.where(ok, var, 1.0), jnp.nan)
    return slope, jnp.where(ok, mean_n - slope * mean_c, jnp.nan)


def interpolate_curves(log_c_grid: Array, run_log_c: Array, run_loss: Array) -> tuple[Array, Array]:
    r"""Each run's loss on a grid of :math:`\log C`, linear in :math:`\log C` (Approach 1).

    ``run_log_c, run_loss`` (R, P): each run's curve sorted by compute, padded at the end by
    repeating its last point. Returns ``loss (R, K)`` and ``inside (R, K)``: whether the grid point
    lies within that run's compute range.
    """
    loss = jax.vmap(lambda xp, fp: jnp.interp(log_c_grid, xp, fp))(run_log_c, run_loss)
    inside = (log_c_grid[None, :] >= run_log_c[:, :1]) & (log_c_grid[None, :] <= run_log_c[:, -1:])
    return loss, inside


def envelope(loss: Array, inside: Array, run_log_n: Array, present: Array) -> tuple[Array, Array, Array, Array]:
    r"""Lower envelope of training curves on a grid of compute (Approach 1).

    Parameters
    ----------
    loss, inside : (R, K)
        From :func:`interpolate_curves`.
    run_log_n : (R,)
    present : (R,) bool
        Runs taking part (a bootstrap resample of runs).

    Returns
    -------
    best_run : (K,) index of the run with the lowest interpolated loss among the runs whose curve
        covers that compute.
    best_loss : (K,) that loss (``inf`` where no run covers it).
    censored : (K,) True where the best run has the smallest or the largest model size among the
        covering runs: the optimum may lie beyond the sizes trained, so the point is not used.
    n_cover : (K,) number of covering runs.
    """
    cover = present[:, None] & inside
    loss = jnp.where(cover, loss, jnp.inf)
    best_run = jnp.argmin(loss, axis=0)
    best_n = run_log_n[best_run]
    smallest = jnp.min(jnp.where(cover, run_log_n[:, None], jnp.inf), axis=0)
    largest = jnp.max(jnp.where(cover, run_log_n[:, None], -jnp.inf), axis=0)
    n_cover = jnp.sum(cover, axis=0)
    censored = (n_cover == 0) | (best_n <= smallest) | (best_n >= largest)
    return best_run, jnp.min(loss, axis=0), censored, n_cover
