"""Scaling laws: one file per law, one registry.

Where is the Chinchilla formula? :mod:`jaxscale.kernels.laws.chinchilla`. The contract every law
follows (and its hooks): :mod:`jaxscale.kernels.laws.base`. Add a law: write it in one file and
call :func:`register_law` (or add it to ``_BUILTIN`` below); the registry tests pick it up.
"""
from __future__ import annotations

from .base import Law, lse_terms, lse_terms_and_jacobian, linear_term_max, product_grid
from .chinchilla import CHINCHILLA, ChinchillaLaw, chinchilla_grid, chinchilla_log_predict
from .constraints import ConstrainedLaw, constrain
from .power_law import POWER_LAW, PURE_POWER_LAW
from .kaplan import KAPLAN, KAPLAN_PARAMS, KaplanLaw
from .data_constrained import DATA_CONSTRAINED, MUENNIGHOFF_PARAMS
from .broken_power_law import BROKEN_POWER_LAW, broken_power_law
from .sigmoid import SIGMOID
from .lr_annealing import FORWARD_MOMENTUM, LR_ANNEALING
from .exponential_metric import EXPONENTIAL_METRIC

_BUILTIN = (CHINCHILLA, POWER_LAW, PURE_POWER_LAW, KAPLAN, DATA_CONSTRAINED, BROKEN_POWER_LAW, SIGMOID, LR_ANNEALING, FORWARD_MOMENTUM,
            EXPONENTIAL_METRIC)

#: Registered laws by name.
LAWS: dict[str, Law] = {law.name: law for law in _BUILTIN}


def register_law(law: Law, *, replace: bool = False) -> Law:
    """Add ``law`` to :data:`LAWS` so it can be named in ``fit``, ``bootstrap``, the CLI and saved files."""
    if not isinstance(law, Law):
        raise ValueError(f"register_law needs a jaxscale Law, got {type(law).__name__}")
    if law.name in LAWS and LAWS[law.name] is not law and not replace:
        raise ValueError(f"a law named {law.name!r} is already registered; pass replace=True to override it")
    LAWS[law.name] = law
    return law


def get_law(law: str | Law) -> Law:
    """Return a registered :class:`Law` by name, or ``law`` itself if it already is one."""
    if isinstance(law, Law):
        return law
    try:
        return LAWS[law]
    except (KeyError, TypeError):
        raise ValueError(f"unknown law {law!r}; choose one of {sorted(LAWS)} or pass a jaxscale.Law") from None


__all__ = ["Law", "LAWS", "CHINCHILLA", "ChinchillaLaw", "POWER_LAW", "PURE_POWER_LAW", "KAPLAN", "KAPLAN_PARAMS", "KaplanLaw",
           "DATA_CONSTRAINED", "MUENNIGHOFF_PARAMS", "BROKEN_POWER_LAW", "broken_power_law", "SIGMOID", "EXPONENTIAL_METRIC", "LR_ANNEALING", "FORWARD_MOMENTUM", "ConstrainedLaw",
           "constrain", "get_law", "register_law", "product_grid", "lse_terms", "lse_terms_and_jacobian",
           "linear_term_max", "chinchilla_grid", "chinchilla_log_predict"]
