r"""How far beyond the data is a prediction? One small helper every prediction path uses.

A prediction at inputs :math:`x` is labelled against the *span* of the data the law was fitted to: the
range :math:`[\min_i x_{ij}, \max_i x_{ij}]` of every input :math:`j` over the fitted runs and, for laws of
``N`` and ``D``, the range of training compute :math:`C_i = 6 N_i D_i`. The signed distance beyond the
span is, per input (in decades for log-scale inputs),

.. math:: \mathrm{beyond}_j(x) = \begin{cases} \log_{10} x_j - \log_{10}\max_i x_{ij} & x_j > \max_i x_{ij} \\
          \log_{10} x_j - \log_{10}\min_i x_{ij} & x_j < \min_i x_{ij} \\ 0 & \text{otherwise,} \end{cases}

(positive: above the largest run; negative: below the smallest), in raw units for raw-scale inputs. The
columns are ``beyond_log10_C`` (laws of N and D), then ``beyond_log10_<input>`` / ``beyond_<input>`` for
every input, and ``regime``: ``"interpolation"`` when every distance is 0 (inside the box of the data's
ranges, which is not the same as near a run), ``"extrapolation"`` otherwise, ``"unknown"`` when the
span is not known (a law given by its parameters, a file written before spans were stored).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..kernels.laws import Law

#: Relative slack at the ends of a span (in decades or raw units): a data point's own inputs are inside.
_SLACK = 1e-9


def data_span(law: Law, features: np.ndarray, weights: np.ndarray | None = None) -> dict[str, list[float]]:
    """``{input: [low, high]}`` in natural units over the rows with weight > 0 (``features[n, k]`` in the
    law's fitting space), plus ``"C": [low, high]`` of ``6 N D`` for laws with log-scale inputs N and D.
    JSON-friendly (stored in a fit's recipe)."""
    feats = np.asarray(features, np.float64)
    if weights is not None:
        feats = feats[np.asarray(weights) > 0]
    span = {}
    for j, (name, scale) in enumerate(zip(law.inputs, law.input_scale)):
        values = np.exp(feats[:, j]) if scale == "log" else feats[:, j]
        span[name] = [float(values.min()), float(values.max())]
    if law.has_allocation:
        log_c = np.log(6.0) + feats[:, law.inputs.index("N")] + feats[:, law.inputs.index("D")]
        span["C"] = [float(np.exp(log_c.min())), float(np.exp(log_c.max()))]
    return span


def _beyond(values: np.ndarray, low: float, high: float, log: bool) -> np.ndarray:
    if log:
        values, low, high = np.log10(values), np.log10(low), np.log10(high)
    slack = _SLACK * max(1.0, abs(low), abs(high))
    return np.where(values > high + slack, values - high, np.where(values < low - slack, values - low, 0.0))


def label_predictions(law: Law, span: Mapping[str, list] | None, x: np.ndarray) -> pd.DataFrame:
    """Extrapolation-distance labels of predictions at ``x[m, k]`` (natural units, the law's input order)
    against the data ``span`` (:func:`data_span`; ``None``: unknown). See the module docstring."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    out = {}
    names = (["C"] if law.has_allocation else []) + list(law.inputs)
    for name in names:
        log = name == "C" or law.input_scale[law.inputs.index(name)] == "log"
        col = f"beyond_log10_{name}" if log else f"beyond_{name}"
        if name == "C":
            values = 6.0 * x[:, law.inputs.index("N")] * x[:, law.inputs.index("D")]
        else:
            values = x[:, law.inputs.index(name)]
        out[col] = np.full(len(x), np.nan) if not span or name not in span else _beyond(values, *span[name], log)
    table = pd.DataFrame(out)
    known = bool(span) and all(name in span for name in names)
    inside = (table.abs() == 0).all(axis=1).to_numpy()
    table["regime"] = np.where(inside, "interpolation", "extrapolation") if known else "unknown"
    return table


def describe_span(law: Law, span: Mapping[str, list] | None) -> str:
    """One line for ``summary()``: the data's span, beyond which predictions are labelled extrapolation."""
    if not span:
        return "data span unknown: predictions cannot be labelled interpolation/extrapolation"
    parts = [f"{name} in [{span[name][0]:.3g}, {span[name][1]:.3g}]" for name in
             (["C"] if "C" in span else []) + list(law.inputs) if name in span]
    return "data span (predictions outside are labelled extrapolation, with their distance): " + ", ".join(parts)


def reach_note(table: pd.DataFrame) -> str:
    """One line about a labelled prediction table (:func:`label_predictions` columns): how many points
    extrapolate and the farthest distance per input (for titles, CLI output and summaries)."""
    if "regime" not in table.columns or len(table) == 0:
        return ""
    regime = table["regime"].to_numpy()
    if (regime == "unknown").all():
        return "extrapolation distance unknown (no data span: a law given by its parameters)"
    n_out = int((regime == "extrapolation").sum())
    if n_out == 0:
        return f"all {len(table)} predictions interpolate (inside the data's span)"
    far = []
    for col in [c for c in table.columns if c.startswith("beyond_")]:
        values = table[col].to_numpy(np.float64)
        j = int(np.nanargmax(np.abs(values)))
        if values[j] != 0:
            unit = " decades" if col.startswith("beyond_log10_") else ""
            far.append(f"{col.replace('beyond_log10_', '').replace('beyond_', '')} {values[j]:+.2f}{unit}")
    return f"{n_out} of {len(table)} predictions EXTRAPOLATE beyond the data (farthest: {', '.join(far)})"


def result_span(result) -> dict | None:
    """The data span of a fit or bootstrap result (``None`` when unknown, e.g. a published law)."""
    span = getattr(result, "data_span", None)
    if span is None:
        span = getattr(result, "recipe", {}).get("data_span")
    return span or None
