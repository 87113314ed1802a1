"""jaxscale: fast, honest fits of neural scaling laws on jitted, batched JAX kernels.

Layers: ``kernels`` (pure maths) <- ``engine`` (batching, grids, float64) <- ``api`` (pandas, results, CLI).

Importing jaxscale asks JAX for one CPU device per core, if JAX has not started yet and nobody chose
a count (``JAXSCALE_CPU_DEVICES=1`` opts out; see :mod:`jaxscale.engine.host` and
:func:`cpu_devices_note`), and turns JAX's persistent compilation cache on in ``~/.cache/jaxscale/xla``
unless JAX already has a cache directory (``JAXSCALE_CACHE_DIR=off`` opts out; :func:`compilation_cache_note`).
"""
from .engine.host import configure_compilation_cache, configure_cpu_devices, enable_compilation_cache

configure_cpu_devices()
configure_compilation_cache()
from .api import datasets
from .api.bootstrap import bootstrap
from .api.fit import fit
from .api import search
from .api.options import ClusterResample, Columns, Runner
from .api.search import Search
from .api.results import BootstrapResult, FitResult, GroupedBootstrapResult, GroupedFitResult, load
from .api.isoflop import EnvelopeResult, IsoflopResult, approach1, compare_approaches, isoflop
from .engine.grids import chinchilla_grid, random_starts
from .kernels.laws import CHINCHILLA, LAWS, POWER_LAW, PURE_POWER_LAW, Law, constrain, get_law, register_law
from .kernels.losses import Loss, asymmetric_huber, huber, squared
from .api.cluster import HOFFMANN_BUDGETS, budget_labels
from .api.decisions import delta_sweep, inference_optimal, plan, rank_next_runs
from .api.emergence import metric_artefact, two_step
from .api.extrapolation import extrapolation
from .api.curves import (CurveColumns, CurveResult, bootstrap_curves, curve_areas, fit_curves, schedules_from_columns,
                         synthetic_curves)
from .api.arms import ArmsResult, bootstrap_arms, compare_sharing, fit_arms
from .kernels.schedules import annealing_area, annealing_momentum, forward_area, lr_schedule
from .api.compare import LawComparison, compare_laws
from .kernels.solvers import BFGS, LaneSolver, LevenbergMarquardt, register_solver

from ._version import __version__

def cpu_devices_note() -> str:
    """What ``import jaxscale`` did about JAX's CPU device count (and how to change it)."""
    from .engine import host

    return host.NOTE


def compilation_cache_note() -> str:
    """Where ``import jaxscale`` put JAX's persistent compilation cache (or why it left it alone)."""
    from .engine import host

    return host.CACHE_NOTE


__all__ = ["Columns", "Search", "Runner", "ClusterResample", "search", "configure_cpu_devices", "enable_compilation_cache", "cpu_devices_note", "compilation_cache_note", "fit", "FitResult", "GroupedFitResult", "GroupedBootstrapResult", "bootstrap", "BootstrapResult", "load", "datasets",
           "chinchilla_grid", "random_starts", "Law", "LAWS", "CHINCHILLA", "POWER_LAW", "PURE_POWER_LAW", "constrain",
           "get_law", "register_law", "Loss", "huber", "asymmetric_huber", "squared", "BFGS", "LevenbergMarquardt", "LaneSolver",
           "register_solver", "__version__",
           "isoflop", "IsoflopResult", "approach1", "EnvelopeResult", "compare_approaches",
           "extrapolation", "compare_laws", "LawComparison", "delta_sweep", "plan", "rank_next_runs",
           "inference_optimal", "budget_labels", "HOFFMANN_BUDGETS", "two_step", "metric_artefact",
           "fit_curves", "bootstrap_curves", "curve_areas", "CurveColumns", "CurveResult", "schedules_from_columns",
           "synthetic_curves", "lr_schedule", "forward_area", "annealing_area", "annealing_momentum",
           "fit_arms", "bootstrap_arms", "compare_sharing", "ArmsResult"]


def __getattr__(name: str):
    """``jaxscale.plot`` is imported on first use, so matplotlib stays optional."""
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'jaxscale' has no attribute {name!r}")
