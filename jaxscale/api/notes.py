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


# ---------------------------------------------------------------------- one fit
def fit_notes(converged: bool, status: str | None, grad_norm: float | None, vanishing: Sequence[str],
              exponents: dict, a_opt: float | None) -> list[str]:
    """Why a fitted estimate cannot be trusted, one sentence per condition (empty: none applies).

    Parameters
    ----------
    converged : whether the best start met its stopping test.
    status, grad_norm : that start's solver status and final gradient norm (None: not known).
    vanishing : names of log-scale parameters that ran to ~0 (their term vanished).
    exponents : decay exponent name -> estimate (a non-positive one is named).
    a_opt : allocation exponent of N_opt ~ C^a (None: the law has none).
    """
    said = []
    if not converged:
        how = f" (solver status {status!r}" + (f", gradient norm {grad_norm:.3g}" if grad_norm is not None else "") + ")"
        said.append(f"not converged{how if status else ''}: the estimate is where the solver stopped, not a verified "
                    "minimum; its parameters may be far from the optimum")
    if vanishing:
        said.append(f"vanishing term: {', '.join(vanishing)} ran to ~0 (below 2e-9), so the objective may still fall "
                    "in that direction and no minimum is attained: not a minimum, and the law is not identified by "
                    "these data (consider fixed=... or a law without that term)")
    bad = {k: v for k, v in exponents.items() if not v > 0}
    if bad:
        said.append("non-positive exponent: " + ", ".join(f"{k} = {v:.3g}" for k, v in bad.items())
                    + ": that term does not decay as its input grows, so this is not a scaling-law fit (too few "
                    "distinct values of that input, or a term the data do not show)")
    if a_opt is not None and not (0.0 <= a_opt <= 1.0):
        said.append(f"allocation N_opt ~ C^{a_opt:.3g} (D_opt ~ C^{1 - a_opt:.3g}) leaves [0, 1]: "
                    f"{'D_opt' if a_opt > 1 else 'N_opt'} would shrink as compute grows")
    return said


#: Converged end points whose objective is within this fraction of the best count as near-equal fits.
FLAT_REL = 1e-3

#: Near-equal fits count as distinct minima when a parameter differs by more than this factor (log-scale
#: parameters: ratio of natural values; others: ``|a - b| > (1 - 1/FLAT_FACTOR) max(|a|, |b|)``).
FLAT_FACTOR = 2.0


def flat_optimum(n_near: int, n_converged: int, gap: float, spans: dict) -> str:
    """Note: converged starts ending at clearly different parameters fit almost as well as the estimate.

    Parameters
    ----------
    n_near : converged end points within :data:`FLAT_REL` (relative) of the best objective whose parameters
        differ from the estimate's by more than :data:`FLAT_FACTOR` in at least one parameter.
    n_converged : converged end points in all.
    gap : relative objective of the best such end point above the estimate's.
    spans : parameter name -> (lowest, highest, estimate) over the estimate and those end points.
    """
    shown = "; ".join(f"{name} from {lo:.3g} to {hi:.3g} (estimate {est:.3g})" for name, (lo, hi, est) in spans.items())
    return (f"flat optimum: {n_near} of the {n_converged} converged starts end within {FLAT_REL:.1%} of the best "
            f"objective (the closest {gap:.2g} above it, relative) at clearly different parameters: {shown}. The data "
            f"barely prefer the estimate over these, so these parameters are not pinned down (a bootstrap shows their "
            f"spread; fixed=... holds them, or more runs where they matter would identify them)")


def banner(n_notes: int) -> str:
    """The line heading a summary whose estimate carries notes."""
    return f"WARNING: this estimate cannot be trusted as it stands ({n_notes} note(s) below)"


# ---------------------------------------------------------------------- bootstrap draws
#: ``se`` above this multiple of the robust spread reads as heavy tails, not a standard error.
HEAVY_TAIL_RATIO = 3.0


def unconverged_resamples(n_unconverged: int, n_used: int) -> str:
    """Warning: used resamples whose best start did not converge (they stay in the intervals)."""
    return (f"bootstrap: {n_unconverged} of the {n_used} resamples used did not converge (finite objective); they "
            "stay in the intervals (leaving them out would keep only the easy resamples and narrow the interval), "
            "counted in summary().attrs['n_not_converged']")


def robust_spread(draws) -> float:
    r"""Robust standard deviation of ``draws``: :math:`1.4826\,\mathrm{median}|x - \mathrm{median}(x)|`
    (the SD for normal draws; unmoved by a few extreme ones). NaN for fewer than 2 draws."""
    import numpy as np

    draws = np.asarray(draws, np.float64)
    if draws.size < 2:
        return float("nan")
    return float(1.4826 * np.median(np.abs(draws - np.median(draws))))


def heavy_tails(se, se_robust) -> list[str]:
    """Notes for quantities whose draws' SD is far above their robust spread (the SD is not a standard error)."""
    import math

    said = []
    for name, sd, rob in zip(se.index, se, se_robust):
        if math.isfinite(sd) and math.isfinite(rob) and sd > HEAVY_TAIL_RATIO * rob:
            said.append(f"{name}: se = {sd:.4g} is {sd / rob:.0f}x the robust spread se_robust = {rob:.4g}; the draws "
                        "are heavy-tailed, so se is not a standard error: read se_robust and the interval")
    return said


def no_optimum(budgets) -> str:
    """Note: the estimate has no compute-optimal allocation at these budgets."""
    shown = ", ".join(f"{c:.3g}" for c in list(budgets)[:4])
    return (f"the full-data estimate has no compute-optimal allocation at C = {shown} (N_opt not finite: e.g. a "
            "non-positive exponent); its row is NaN")


def outside_own_interval(table, level: float) -> list[str]:
    """Notes for quantities whose full-data estimate lies outside their own bootstrap interval."""
    import math

    said = []
    for name, row in table.iterrows():
        est, lo, hi = row["estimate"], row["ci_low"], row["ci_high"]
        if all(math.isfinite(v) for v in (est, lo, hi)) and not (lo <= est <= hi):
            said.append(f"{name}: the estimate {est:.4g} lies outside its own {level:.0%} interval [{lo:.4g}, {hi:.4g}]:"
                        " the usable draws do not describe this estimate (many resamples failed or are "
                        "unidentifiable, or the estimate sits in another basin)")
    return said
