r"""Learning-rate schedules and the areas that the training-curve laws read from them.

A schedule is the learning rate :math:`\eta_i` of every optimiser step :math:`i = 1..T` (a per-step
array), or a description turned into one by :func:`lr_schedule`: ``"constant"``, ``"cosine"``,
``"linear"`` or ``"wsd"`` (warm-up, stable, decay), each with a linear warm-up over the first
``warmup`` fraction of the steps.

Tissue et al. (2024), "Scaling Law with Learning Rate Annealing" (arXiv 2408.11029):

.. math::
    S_1(s) = \sum_{i=1}^{s} \eta_i \quad\text{(forward area)}, \qquad
    S_2(s) = \sum_{i=1}^{s} m_i, \quad m_i = \lambda\, m_{i-1} + (\eta_{i-1} - \eta_i)
    \quad\text{(annealing area with momentum)},

with :math:`m_0 = 0`, :math:`\eta_0 = \eta_1` (no annealing before the first step) and decay factor
:math:`\lambda` (0.999 in the paper; 0.99-0.999 work). Our convention for a warm-up: the ``warmup``
first steps add to :math:`S_1` but not to the momentum (their LR rises, which the annealing area is not
meant to count; with ``warmup_steps=0`` a rising LR would make :math:`S_2` negative), i.e.
:math:`m_i = \lambda m_{i-1}` for :math:`i \le` ``warmup_steps``. Schedule descriptions pass their warm-up
length; a per-step LR array (or an LR column) its initially rising steps (:func:`rising_steps`).

Wang et al. (AAAI 2026, arXiv 2512.13705; their reference code ``compute_S2`` in
``siqi-wang25/fm-annealing``) replace :math:`S_2` by an Adam-style annealing momentum over logged
steps :math:`t_j` with widths :math:`w_j = t_j - t_{j-1}`:

.. math::
    \Delta_j &= (\eta_{j-1} - \eta_j)\, w_j, \quad
    m_j = \beta_1 m_{j-1} + (1 - \beta_1)\Delta_j, \quad v_j = \beta_2 v_{j-1} + (1-\beta_2)\Delta_j^2, \\
    \hat m_j &= m_j / (1 - \beta_1^{\,j+1}), \quad \hat v_j = \kappa\, v_j / (1 - \beta_2^{\,j+1}), \quad
    M_j = M_{j-1} + \hat m_j / (\sqrt{\hat v_j + \epsilon} + \epsilon),

with :math:`M_0 = 0`, :math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.999`, :math:`\epsilon = 10^{-8}`,
:math:`\kappa = 10^5` (``vi_scale``) and zero-based :math:`j` as in their code; over every step
(:math:`w_j = 1`) by default. Their forward effect is :math:`S_1` above.

Everything here is numpy (the areas are data, computed once per run before fitting).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

#: Tissue et al.'s decay factor of the annealing momentum.
TISSUE_LAMBDA = 0.999
#: The schedule kinds :func:`lr_schedule` draws.
SCHEDULE_KINDS = ("constant", "cosine", "linear", "wsd")


def _check_fraction(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a fraction of the steps in [0, 1), got {value!r}") from None
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a fraction of the steps in [0, 1), got {value}")
    return value


def lr_schedule(kind: str, total_steps: int, peak_lr: float = 1.0, *, warmup: float = 0.0, decay: float = 0.2,
                final_lr: float = 0.0) -> np.ndarray:
    r"""The learning rate :math:`\eta_i` of steps :math:`i = 1..T` for a schedule description.

    Warm-up (every kind): :math:`\eta_i = \eta_{peak}\, i / W` for :math:`i \le W = \mathrm{round}(warmup\cdot T)`.
    After it, with :math:`u = (i - W) / (T - W) \in (0, 1]`:

    - ``"constant"``: :math:`\eta_{peak}`;
    - ``"cosine"``: :math:`\eta_f + (\eta_{peak} - \eta_f)(1 + \cos\pi u)/2`;
    - ``"linear"``: :math:`\eta_{peak} - (\eta_{peak} - \eta_f) u`;
    - ``"wsd"``: :math:`\eta_{peak}` until the last :math:`K = \mathrm{round}(decay\cdot T)` steps, then linear
      to :math:`\eta_f` over them (:math:`\eta_{peak} - (\eta_{peak} - \eta_f) k / K` at the k-th decay step).

    Parameters
    ----------
    kind : {"constant", "cosine", "linear", "wsd"}
    total_steps : int
        :math:`T \ge 2`.
    peak_lr, final_lr : float
        :math:`\eta_{peak} > 0` and :math:`0 \le \eta_f \le \eta_{peak}`.
    warmup, decay : float
        Fractions of the steps in warm-up, and (``"wsd"``) in the final decay.

    Returns
    -------
    ndarray (T,)
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"schedule kind {kind!r} is unknown; choose one of {SCHEDULE_KINDS}")
    T = int(total_steps)
    if T != total_steps or T < 2:
        raise ValueError(f"total_steps must be a whole number >= 2, got {total_steps!r}")
    peak_lr, final_lr = float(peak_lr), float(final_lr)
    if not (np.isfinite(peak_lr) and peak_lr > 0):
        raise ValueError(f"peak_lr must be finite and > 0, got {peak_lr}")
    if not (0.0 <= final_lr <= peak_lr):
        raise ValueError(f"final_lr must be in [0, peak_lr={peak_lr}], got {final_lr}")
    W = int(round(_check_fraction("warmup", warmup) * T))
    steps = np.arange(1, T + 1, dtype=np.float64)
    lr = np.full(T, peak_lr)
    lr[:W] = peak_lr * steps[:W] / W if W else lr[:W]
    u = (steps[W:] - W) / (T - W)
    if kind == "cosine":
        lr[W:] = final_lr + (peak_lr - final_lr) * 0.5 * (1.0 + np.cos(np.pi * u))
    elif kind == "linear":
        lr[W:] = peak_lr - (peak_lr - final_lr) * u
    elif kind == "wsd":
        K = int(round(_check_fraction("decay", decay) * T))
        if K > T - W:
            raise ValueError(f"warmup ({warmup}) + decay ({decay}) fractions exceed the run; shorten one")
        if K:
            lr[T - K:] = peak_lr - (peak_lr - final_lr) * np.arange(1, K + 1) / K
    lr[W:] = np.clip(lr[W:], final_lr, peak_lr)  # rounding (e.g. 1 + cos(pi u) = -1e-16) never leaves the range
    return lr


def warmup_steps_of(spec: Mapping | None, total_steps: int) -> int:
    """Steps of warm-up a schedule description names (0 without one)."""
    if not spec:
        return 0
    return int(round(float(spec.get("warmup", 0.0)) * int(total_steps)))


def rising_steps(lr) -> int:
    """Length of the warm-up of a per-step LR array: the steps of its initial strictly rising run
    (``W`` for :func:`lr_schedule`'s warm-up of ``W`` steps; 0 when the LR does not rise at first)."""
    lr = np.asarray(lr, np.float64)
    falls = np.flatnonzero(np.diff(lr) <= 0)
    run = int(falls[0]) + 1 if falls.size else lr.size
    return run if run > 1 else 0


def check_lr(lr) -> np.ndarray:
    """A per-step learning-rate array: 1-D, finite, >= 0 and not all zero."""
    lr = np.asarray(lr, np.float64)
    if lr.ndim != 1 or lr.size < 1:
        raise ValueError(f"learning rates must be a 1-D array with one value per step, got shape {lr.shape}")
    bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
    if bad.size:
        raise ValueError(f"learning rate of step {int(bad[0]) + 1} is {lr[bad[0]]}; it must be finite and >= 0")
    if not np.any(lr > 0):
        raise ValueError("every learning rate is 0: the forward area S1 would be 0")
    return lr


def linear_recursion(coef: float, x) -> np.ndarray:
    r""":math:`y_i = c\, y_{i-1} + x_i` (:math:`y_{-1} = 0`) for :math:`0 \le c < 1`, vectorised in blocks.

    Within a block of :math:`B` steps starting at :math:`b`,
    :math:`y_{b+j} = c^{j+1} y_{b-1} + c^{j} \sum_{k \le j} c^{-k} x_{b+k}`, with :math:`B` chosen so that
    :math:`c^{-B} \le 10^3` (no overflow; rounding stays within a few ulps of the running sum's terms).
    """
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    if coef == 0.0:
        return x.copy()
    block = max(1, int(np.log(1e3) / -np.log(coef))) if coef < 1.0 else 1
    prev = 0.0
    for lo in range(0, x.size, block):
        chunk = x[lo:lo + block]
        j = np.arange(chunk.size, dtype=np.float64)
        up, down = coef ** -j, coef ** j
        y[lo:lo + block] = coef ** (j + 1) * prev + down * np.cumsum(up * chunk)
        prev = y[lo + chunk.size - 1]
    return y


def forward_area(lr) -> np.ndarray:
    r""":math:`S_1(s) = \sum_{i \le s} \eta_i` for every step ``s = 1..T`` (Tissue et al.)."""
    return np.cumsum(check_lr(lr))


def annealing_area(lr, decay: float = TISSUE_LAMBDA, warmup_steps: int = 0) -> np.ndarray:
    r""":math:`S_2(s) = \sum_{i \le s} m_i`, :math:`m_i = \lambda m_{i-1} + (\eta_{i-1} - \eta_i)` (module docs).

    ``decay`` is :math:`\lambda \in [0, 1)`; the first ``warmup_steps`` steps add no LR drop to the momentum.
    The momentum is :func:`linear_recursion` (vectorised; equal to the step-by-step loop to rounding).
    """
    lr = check_lr(lr)
    lam = float(decay)
    if not (0.0 <= lam < 1.0):
        raise ValueError(f"decay (lambda) must be in [0, 1), e.g. 0.999; got {decay!r}")
    drops = np.concatenate([[0.0], lr[:-1] - lr[1:]])
    drops[: int(warmup_steps)] = 0.0
    m = linear_recursion(lam, drops)
    return np.cumsum(m)


def annealing_momentum(lr, steps=None, *, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8,
                       vi_scale: float = 1e5) -> np.ndarray:
    r"""Wang et al.'s Adam-style annealing momentum :math:`M_j` at every logged step (module docs).

    ``lr[j]`` is the learning rate at logged step ``steps[j]`` (default: every step ``1..T``).
    """
    lr = check_lr(lr)
    steps = np.arange(1, lr.size + 1, dtype=np.float64) if steps is None else np.asarray(steps, np.float64)
    if steps.shape != lr.shape or np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing with one learning rate per step")
    delta = np.concatenate([[0.0], (lr[:-1] - lr[1:]) * np.diff(steps)])
    m = linear_recursion(beta1, (1.0 - beta1) * delta)
    v = linear_recursion(beta2, (1.0 - beta2) * delta * delta)
    j = np.arange(lr.size, dtype=np.float64)
    m_hat = m / (1.0 - beta1 ** (j + 1))
    v_hat = vi_scale * v / (1.0 - beta2 ** (j + 1))
    terms = m_hat / (np.sqrt(v_hat + epsilon) + epsilon)
    terms[0] = 0.0  # M_0 = 0: the recursion starts at the second logged step
    return np.cumsum(terms)


def schedule_areas(lr, at_steps=None, *, decay: float = TISSUE_LAMBDA, warmup_steps: int = 0,
                   momentum: Mapping | None = None) -> dict[str, np.ndarray]:
    r"""``{"S1", "S2", "M"}`` at the 1-based steps ``at_steps`` (default every step) of one run.

    ``S1``/``S2`` as Tissue et al., ``M`` as Wang et al. over every step (``momentum``: keyword
    arguments of :func:`annealing_momentum`).
    """
    lr = check_lr(lr)
    at = np.arange(1, lr.size + 1) if at_steps is None else np.asarray(at_steps)
    if at.ndim != 1 or not np.issubdtype(at.dtype, np.integer) and not np.all(at == np.round(at)):
        raise ValueError("steps must be whole step numbers (1-based)")
    at = at.astype(np.int64)
    if at.size and (at.min() < 1 or at.max() > lr.size):
        raise ValueError(f"step {int(at.min() if at.min() < 1 else at.max())} is outside the schedule's steps "
                         f"1..{lr.size}; give the learning rate of every step up to the last checkpoint")
    idx = at - 1
    return {"S1": forward_area(lr)[idx], "S2": annealing_area(lr, decay, warmup_steps)[idx],
            "M": annealing_momentum(lr, **dict(momentum or {}))[idx]}
