r"""Results as labelled arrays: :class:`xarray.Dataset` views of fits and bootstraps (``pip install "jaxscale[xarray]"``).

xarray is optional: it is imported only when a ``to_xarray()`` method is called. The datasets
hold the result's own arrays, unchanged, with named dimensions:

===============================  =======================================================
result                           dimensions
===============================  =======================================================
:class:`BootstrapResult`         ``resample`` x ``parameter`` / ``log_parameter``
:class:`GroupedBootstrapResult`  ``group`` x ``resample`` x ``parameter`` / ``log_parameter``
:class:`FitResult`               ``start`` x ``parameter`` / ``log_parameter``
:class:`GroupedFitResult`        ``group`` x ``start`` x ``parameter`` / ``log_parameter``
===============================  =======================================================

``parameter`` holds the natural parameters (fixed ones included), then the law's derived
quantities (for Chinchilla :math:`a = \beta/(\alpha+\beta)`, :math:`b = \alpha/(\alpha+\beta)`
and :math:`G`); ``log_parameter`` the fitting-space parameters the solver moves (``a = log A``,
...). A bootstrap keeps each resample's best start only, so it has no ``start`` dimension; a
fit's per-start table is its ``start`` dimension. Attributes carry the recipe (law, loss, seed,
resamples, starts; the whole recipe as JSON under ``recipe``) and say what an interval over the
draws is. Attribute values are strings and numbers only, so ``to_netcdf`` can write them.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ...kernels.laws import Law

INSTALL = 'to_xarray() needs xarray: pip install "jaxscale[xarray]"'

#: What a percentile interval over a bootstrap dataset's ``draws`` is (its ``interval`` attribute).
BOOTSTRAP_INTERVAL = ("percentile intervals of 'draws' over the resamples where 'usable' is True are confidence "
                      "intervals of the law's parameters (where the law lies), not of a new run; result.summary() "
                      "computes them the same way")


def xarray_module():
    """``import xarray``, or an :class:`ImportError` saying how to install it."""
    try:
        import xarray
    except ImportError as err:
        raise ImportError(INSTALL) from err
    return xarray


def natural_quantities(law: Law, theta: np.ndarray) -> dict[str, np.ndarray]:
    """Natural parameters of the base law (fixed ones included, exactly as given) and the law's derived quantities
    at fitting-space points ``theta[..., p]``."""
    base = law.base
    natural = base.to_natural(law.expand(theta))
    out = {n: natural[..., j] for j, n in enumerate(base.natural_names)}
    out.update({n: np.full_like(out[n], v) for n, v in law.fixed.items()})
    out.update(base.derived(out))
    return out


def _attr(value: Any) -> Any:
    """An attribute value netCDF can store: numbers and strings as they are, bools as 0/1, anything else as JSON."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    return json.dumps(value, default=str)


def recipe_attrs(law: Law, loss, recipe: dict, **extra: Any) -> dict[str, Any]:
    """The recipe summary as attributes: law, loss (and its parameters), the usual recipe fields, the whole recipe
    as JSON, and ``extra``."""
    attrs: dict[str, Any] = {"law": law.name, "loss": loss.name}
    attrs.update({f"loss_{k}": float(v) for k, v in dict(getattr(loss, "params", ()) or ()).items()})
    for key in ("seed", "n_resamples", "resample", "starts", "n_starts", "solver", "indices"):
        if key in recipe:
            attrs[key] = _attr(recipe[key])
    attrs.update({k: _attr(v) for k, v in extra.items()})
    attrs["recipe"] = json.dumps(recipe, default=str, sort_keys=True)
    return attrs


def _parameter_block(law: Law, theta: np.ndarray) -> tuple[list[str], np.ndarray]:
    """``(names, values[..., q])``: natural parameters and derived quantities at ``theta[..., p]``."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        values = natural_quantities(law, np.asarray(theta, np.float64))
    names = list(values)
    return names, np.stack([np.asarray(values[n], np.float64) for n in names], axis=-1)


def bootstrap_dataset(result) -> Any:
    """:meth:`BootstrapResult.to_xarray`: dims ``resample x parameter`` and ``resample x log_parameter``."""
    xr = xarray_module()
    law = result.law
    names, draws = _parameter_block(law, result.theta)
    _, estimate = _parameter_block(law, result.estimate)
    R = result.n_resamples
    data = {
        "draws": (("resample", "parameter"), draws,
                  {"long_name": "each resample's best fit: natural parameters and derived quantities"}),
        "theta": (("resample", "log_parameter"), np.asarray(result.theta, np.float64),
                  {"long_name": "each resample's best fit in fitting space (what the solver moved)"}),
        "estimate": (("parameter",), estimate, {"long_name": "full-data estimate (the point estimate)"}),
        "log_estimate": (("log_parameter",), np.asarray(result.estimate, np.float64),
                         {"long_name": "full-data estimate in fitting space"}),
        "objective": (("resample",), np.asarray(result.objective, np.float64),
                      {"long_name": "each resample's best objective (weighted loss sum)"}),
        "converged": (("resample",), np.asarray(result.converged, bool),
                      {"long_name": "the resample's best start converged"}),
        "n_at_best": (("resample",), np.asarray(result.n_at_best),
                      {"long_name": "starts of the resample ending within 1e-9 of its best objective"}),
        "identifiable": (("resample",), np.asarray(result.identifiable, bool),
                         {"long_name": "the resample's drawn rows identify the law"}),
        "usable": (("resample",), np.asarray(result.usable(), bool),
                   {"long_name": "used by intervals: not failed (finite) and identifiable"}),
    }
    coords = {"resample": np.arange(R), "parameter": names, "log_parameter": list(law.param_names)}
    attrs = recipe_attrs(law, result.loss, result.recipe, n_resamples=R,
                         estimate_objective=float(result.estimate_objective), interval=BOOTSTRAP_INTERVAL,
                         kind="bootstrap")
    return xr.Dataset(data, coords=coords, attrs=attrs)


def fit_dataset(result) -> Any:
    """:meth:`FitResult.to_xarray`: the per-start table, dims ``start x parameter`` and ``start x log_parameter``."""
    xr = xarray_module()
    law = result.law
    starts = result.starts
    K = len(starts)
    log_names = list(law.param_names)
    end = np.stack([starts[p].to_numpy(np.float64) for p in log_names], axis=1) if K else np.empty((0, len(log_names)))
    begin = (np.stack([starts[f"start_{p}"].to_numpy(np.float64) for p in log_names], axis=1) if K
             else np.empty((0, len(log_names))))
    names, params = _parameter_block(law, end)
    if not K:
        names, _ = _parameter_block(law, result.theta)
        params = np.empty((0, len(names)))
    _, estimate = _parameter_block(law, result.theta)
    data = {
        "start_theta": (("start", "log_parameter"), begin, {"long_name": "where each start began (fitting space)"}),
        "theta": (("start", "log_parameter"), end, {"long_name": "where each start ended (fitting space)"}),
        "params": (("start", "parameter"), params,
                   {"long_name": "where each start ended: natural parameters and derived quantities"}),
        "estimate": (("parameter",), estimate, {"long_name": "the fit (best start, polished)"}),
        "log_estimate": (("log_parameter",), np.asarray(result.theta, np.float64),
                         {"long_name": "the fit in fitting space"}),
    }
    used = {f"start_{p}" for p in log_names} | set(log_names)
    for column in starts.columns:
        if column in used:
            continue
        values = starts[column]
        values = values.to_numpy() if values.dtype.kind in "biuf" else values.astype(str).to_numpy().astype(str)
        data[column] = (("start",), values, {"long_name": f"per-start {column}"})
    coords = {"start": np.arange(K), "parameter": names, "log_parameter": log_names}
    attrs = recipe_attrs(law, result.loss, result.recipe, objective=float(result.objective),
                         converged=bool(result.converged), n_points=int(result.n_points), kind="fit",
                         notes=" | ".join(result.notes()) if hasattr(result, "notes") else "")
    return xr.Dataset(data, coords=coords, attrs=attrs)


def grouped_dataset(result, member) -> Any:
    """Each group's dataset (``member(result_of_group)``) stacked along a ``group`` dimension; its coordinate holds
    the group keys (a MultiIndex of the ``by`` columns when grouped by several), and each ``by`` column is a
    coordinate along ``group``."""
    xr = xarray_module()
    import pandas as pd

    parts = [member(res) for res in result.results.values()]
    keys = list(result.results)
    by = list(result.by)
    if len(by) > 1:
        index = pd.MultiIndex.from_tuples(keys, names=by)
        group = xr.Coordinates.from_pandas_multiindex(index, "group")
    else:
        group = xr.Coordinates({"group": ("group", np.asarray(keys)), by[0]: ("group", np.asarray(keys))})
    stacked = xr.concat(parts, dim="group", join="outer", combine_attrs="drop_conflicts")
    stacked = stacked.assign_coords(group)
    first = parts[0].attrs
    attrs = {k: v for k, v in first.items() if all(p.attrs.get(k) == v for p in parts)}
    recipe = dict(result.recipe or {})
    attrs.update(by=json.dumps(by), n_groups=len(keys), kind=f"grouped-{first.get('kind', '')}")
    if recipe:
        attrs["grouped_recipe"] = json.dumps(recipe, default=str, sort_keys=True)
    stacked.attrs = attrs
    return stacked
