r"""Compute-optimal allocation for the Chinchilla law under :math:`C = 6 N D`.

Minimising :math:`E + A N^{-\alpha} + B D^{-\beta}` subject to :math:`6ND = C` gives

.. math::
    G = \left(\frac{\alpha A}{\beta B}\right)^{1/(\alpha+\beta)},\quad
    a = \frac{\beta}{\alpha+\beta},\quad b = \frac{\alpha}{\alpha+\beta},\quad
    N_{opt} = G (C/6)^{a},\quad D_{opt} = G^{-1} (C/6)^{b}.

Written with array operators only, so it broadcasts over bootstrap draws (numpy or jnp).
"""
from __future__ import annotations


def allocation_exponents(alpha, beta):
    """``(a_opt, b_opt) = (beta, alpha) / (alpha + beta)``."""
    total = alpha + beta
    return beta / total, alpha / total


def allocation_constant(A, B, alpha, beta):
    """:math:`G = (\\alpha A / (\\beta B))^{1/(\\alpha+\\beta)}`."""
    return (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))


def compute_optimal(A, B, alpha, beta, C):
    """``(N_opt, D_opt)`` for compute ``C`` (FLOP), broadcasting over all arguments."""
    a_opt, b_opt = allocation_exponents(alpha, beta)
    G = allocation_constant(A, B, alpha, beta)
    return G * (C / 6.0) ** a_opt, (C / 6.0) ** b_opt / G


def chinchilla_loss(A, B, E, alpha, beta, N, D):
    """:math:`E + A N^{-\\alpha} + B D^{-\\beta}` (natural scale)."""
    return E + A * N ** (-alpha) + B * D ** (-beta)
