"""Wording shared by results that cannot be fully trusted: one sentence per condition, naming what it is about.

The project's rule: a result that cannot be trusted says so in words next to the number (API,
``summary()``, ``repr``, CLI), and warnings name the budget / group / parameter. These helpers keep the
words the same wherever the condition is detected.
"""
from __future__ import annotations

from typing import Sequence

#: Said once per isoFLOP result whose budgets mostly show no minimum.
NOT_ISOFLOP = ("this does not look like an isoFLOP design: in most budgets the lowest loss is at the smallest or "
               "largest model size trained (or most resamples show no minimum), so the data do not locate an optimum "
               "there; train sizes on both sides of the optimum of every budget")


def _listed(names: Sequence[str], limit: int = 6) -> str:
    shown = "; ".join(names[:limit])
    return shown + (f"; ... ({len(names) - limit} more)" if len(names) > limit else "")


def unbracketed_budgets(names: Sequence[str], n_budgets: int) -> str:
    """Warning: the budgets whose lowest observed loss sits at an end of their sampled sizes."""
    return (f"isoflop: {len(names)} of {n_budgets} budget(s) have no bracketed minimum (the lowest loss is at the "
            f"smallest or largest model size, so the fitted vertex is invented) and are left out of the allocation "
            f"fit: {_listed(names)}. Pass exclude_unbracketed=False to use them anyway")


def too_few_bracketed(n_used: int, names: Sequence[str], bracket, outside, exclude_outside: bool,
                      exclude_unbracketed: bool) -> str:
    """Error: fewer than 2 budgets remain for the allocation power law."""
    reasons = []
    unbracketed = [n for n, ok in zip(names, bracket) if not ok]
    if exclude_unbracketed and unbracketed:
        reasons.append(f"{len(unbracketed)} without a bracketed minimum (lowest loss at the smallest or largest size: "
                       f"{_listed(unbracketed, 3)})")
    if exclude_outside and any(outside):
        reasons.append(f"{int(sum(outside))} with the fitted minimum outside the sampled sizes")
    why = ("; left out: " + ", ".join(reasons)) if reasons else " (the others have no fitted minimum)"
    return (f"only {n_used} of {len(names)} budget(s) have a fitted minimum usable for the allocation power law "
            f"N_opt ~ C^a (need 2){why}. " + NOT_ISOFLOP[0].upper() + NOT_ISOFLOP[1:]
            + (". To fit the extrapolated vertices anyway, pass exclude_unbracketed=False" if exclude_unbracketed
               and unbracketed else ""))


def minority_interval(share: float, min_share: float) -> str:
    """Note: a per-budget interval left NaN because too few resamples had a usable minimum."""
    return f"only {share:.0%} usable (< {min_share:.0%}): interval not reported (NaN bounds)"


def allocation_interval(a_estimate: float, a_lower: float, a_upper: float, level: float) -> str | None:
    r"""Note when the allocation exponent or its interval leaves [0, 1]: then N_opt or D_opt = C/(6 N_opt)
    would shrink as compute grows, which no compute-optimal allocation does; ``None`` when it stays inside."""
    import math

    words = []
    if not (0.0 <= a_estimate <= 1.0):
        words.append(f"the estimate a = {a_estimate:.3g} (b = {1 - a_estimate:.3g})")
    if math.isfinite(a_lower) and math.isfinite(a_upper) and (a_lower < 0.0 or a_upper > 1.0):
        words.append(f"the {level:.0%} interval of a [{a_lower:.3g}, {a_upper:.3g}] (b [{1 - a_upper:.3g}, "
                     f"{1 - a_lower:.3g}])")
    if not words:
        return None
    return (" and ".join(words) + " leaves [0, 1]: there N_opt or D_opt would shrink as compute grows; this "
            "interval is not informative (too few budgets, or budgets without a located minimum)")
