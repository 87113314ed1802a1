r"""Fixed and tied parameters as a law transform.

:func:`constrain` returns a law over the *free* parameters only. With the base law's fitted
parameters written as an affine map of the free ones,

.. math:: \theta_{full} = M\,\theta_{free} + c,

a fixed parameter has a zero row in :math:`M` and its (fitted-space) value in :math:`c`; a tied
parameter copies the row of the parameter it equals. Predictions and Jacobians follow exactly:
:math:`J_{free} = J_{full} M`. Every solver, grid and bootstrap then works unchanged on the
constrained law, and results report the full parameter vector (fixed ones flagged).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import jax.numpy as jnp
import numpy as np

from .base import Law


@dataclass(frozen=True, eq=False)
class ConstrainedLaw(Law):
    """A :class:`Law` with some parameters of ``base_law`` fixed or tied (see :func:`constrain`)."""

    base_law: Law | None = None
    embedding: tuple = ()  # M as nested tuples (p_full, p_free)
    offset: tuple = ()  # c (p_full,)
    fixed_natural: tuple = ()  # ((name, value), ...)
    tied_pairs: tuple = ()  # ((name, target), ...)

    def __eq__(self, other: object) -> bool:  # equal constraints compile once
        return isinstance(other, ConstrainedLaw) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self):
        return (id(self.base_law), self.fixed_natural, self.tied_pairs)

    @property
    def base(self) -> Law:
        return self.base_law

    @property
    def fixed(self) -> dict[str, float]:
        return dict(self.fixed_natural)

    @property
    def tied(self) -> dict[str, str]:
        return dict(self.tied_pairs)

    def expand(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, np.float64)
        return theta @ np.asarray(self.embedding).T + np.asarray(self.offset)

    def derived(self, natural):
        return self.base_law.derived(natural)

    @property
    def has_allocation(self) -> bool:
        return self.base_law.has_allocation

    def compute_optimal(self, theta, C, **other_inputs):
        return self.base_law.compute_optimal(self.expand(theta), C, **other_inputs)


def _resolve(base: Law, name: str, role: str) -> int:
    for names in (base.natural_names, base.param_names):
        if name in names:
            return names.index(name)
    raise ValueError(f"{role}: law {base.name!r} has no parameter {name!r}; its parameters are "
                     f"{list(base.natural_names)} (fitted as {list(base.param_names)})")


def constrain(law: Law, fixed: Mapping[str, float] | None = None, tied: Mapping[str, str] | None = None) -> Law:
    """Hold parameters of ``law`` fixed and/or tie some to others.

    Parameters
    ----------
    law : Law
    fixed : mapping name -> value, optional
        A natural name (``"alpha"``, ``"A"``) takes a natural value (``A = 400``); a fitted name
        (``"a"``) a fitted-space value (``a = log 400``). Example: ``{"alpha": 0.5}``.
    tied : mapping name -> other name, optional
        ``{"beta": "alpha"}`` fits one exponent shared by both (Muennighoff et al.'s release).

    Returns
    -------
    Law
        ``law`` itself when nothing is constrained, else a :class:`ConstrainedLaw` over the free
        parameters whose ``expand`` gives the full parameter vector.
    """
    fixed, tied = dict(fixed or {}), dict(tied or {})
    if not fixed and not tied:
        return law
    if isinstance(law, ConstrainedLaw):
        raise ValueError("constrain the unconstrained law: pass all fixed/tied parameters in one call")
    p = law.n_params
    values, given = {}, {}
    for name, value in fixed.items():
        j = _resolve(law, name, "fixed")
        if isinstance(value, (str, bytes, bool)) or isinstance(value, np.bool_):
            raise ValueError(f"fixed[{name!r}] must be a number, got {value!r} ({type(value).__name__}); give e.g. "
                             f"fixed={{{name!r}: 0.3}}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"fixed[{name!r}] must be a number, got {value!r}") from None
        if not np.isfinite(value):
            raise ValueError(f"fixed[{name!r}] must be finite, got {value}")
        natural = name in law.natural_names and name not in law.param_names[j:j + 1]
        if natural:
            given[j] = value  # reported as given: exp(log(v)) may differ from v in the last bit
        if natural and law.log_scale[j]:
            if value <= 0:
                raise ValueError(f"fixed[{name!r}] = {value}: {name} is exp({law.param_names[j]}) and must be > 0")
            value = float(np.log(value))
        if j in values:
            raise ValueError(f"parameter {law.natural_names[j]!r} is fixed twice")
        values[j] = value
    links = {}
    for name, target in tied.items():
        j, k = _resolve(law, name, "tied"), _resolve(law, target, "tied")
        if j == k:
            raise ValueError(f"tied[{name!r}] = {target!r} ties a parameter to itself")
        if j in values:
            raise ValueError(f"tied[{name!r}] = {target!r}: {name!r} is also fixed; a parameter is either fixed or "
                             "tied, drop one of the two")
        if k in values:
            raise ValueError(f"tied[{name!r}] = {target!r}: {target!r} is fixed, so {name!r} cannot be tied to it; fix "
                             f"{name!r} to the same value instead (fixed={{{name!r}: ...}})")
        if law.log_scale[j] != law.log_scale[k]:
            raise ValueError(f"tied[{name!r}] = {target!r}: one is log-scale and the other is not")
        links[j] = k
    for j, k in links.items():
        if k in links:
            raise ValueError(f"tied: {law.param_names[k]!r} is itself tied; tie both to the same free parameter")
    free = [j for j in range(p) if j not in values and j not in links]
    if not free:
        raise ValueError(f"every parameter of law {law.name!r} is fixed or tied; nothing left to fit")
    embedding = np.zeros((p, len(free)))
    for col, j in enumerate(free):
        embedding[j, col] = 1.0
    for j, k in links.items():
        embedding[j] = embedding[k]
    offset = np.zeros(p)
    for j, v in values.items():
        offset[j] = v
    # M and c stay numpy float64 until traced: a jnp array made here, outside the float64 context,
    # would be float32 and round the fixed values (alpha = 0.3 -> 0.30000001).
    def full(theta):
        return jnp.asarray(embedding, theta.dtype) @ theta + jnp.asarray(offset, theta.dtype)

    def log_predict(theta, feats):
        return law.log_predict(full(theta), feats)

    def jac_fn(theta, feats):
        z, jac = law.log_predict_and_jacobian(full(theta), feats)
        return z, jac @ jnp.asarray(embedding, theta.dtype)

    base_grid = law.grid()
    grid_free = np.unique(base_grid[:, free], axis=0)

    def grid():
        return grid_free

    fixed_natural = tuple(sorted((law.natural_names[j], given[j] if j in given else float(law.to_natural(
        np.where(np.arange(p) == j, v, 0.0))[j])) for j, v in values.items()))
    suffix = ",".join([f"{n}={v:g}" for n, v in fixed_natural] +
                      [f"{law.natural_names[j]}={law.natural_names[k]}" for j, k in sorted(links.items())])
    return ConstrainedLaw(
        name=f"{law.name}[{suffix}]", inputs=law.inputs, param_names=tuple(law.param_names[j] for j in free),
        natural_names=tuple(law.natural_names[j] for j in free), log_predict=log_predict,
        log_scale=tuple(law.log_scale[j] for j in free), grid=grid, log_predict_and_jacobian=jac_fn if law.log_predict_and_jacobian is not None else None,
        input_scale=law.input_scale, target_scale=law.target_scale, description=law.description,
        constant_inputs=law.constant_inputs, exponents=tuple(n for n in law.exponents if n in
                                                             {law.natural_names[j] for j in free}), base_law=law, embedding=tuple(map(tuple, embedding)), offset=tuple(offset),
        fixed_natural=fixed_natural,
        tied_pairs=tuple(sorted((law.natural_names[j], law.natural_names[k]) for j, k in links.items())))
