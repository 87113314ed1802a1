"""Typed user code against jaxscale's public API, checked by mypy (tests/test_typing.py); never run.

Each line is a documented usage (README, docs): mypy checks the call against the annotations, so an
annotation that forbids a documented call, or a result used as documented that has the wrong type, fails.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import jaxscale as js
from jaxscale.api.tables import read_table


def documented_usage(runs: pd.DataFrame) -> None:
    law: js.Law = js.get_law("chinchilla")
    same: js.Law = js.get_law(js.CHINCHILLA)
    fixed_e: js.Law = js.constrain(law, fixed={"E": 1.69})
    tied: js.Law = js.constrain(law, tied={"beta": "alpha"})
    names: list[str] = sorted(js.LAWS)
    registered: js.Law = js.register_law(fixed_e, replace=True)
    one_input: js.Law = js.POWER_LAW if js.PURE_POWER_LAW.name != "power_law" else js.PURE_POWER_LAW

    fit = js.FitResult.from_params({"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28})
    params: pd.Series = fit.params
    log_params: pd.Series = fit.log_params
    loss = fit.predict(N=70e9, D=1.4e12)
    optimal = fit.compute_optimal(np.array([1e22, 5.88e23]))
    at_best: int = fit.n_at_best()
    table: str = fit.summary()
    saved = fit.save("fit.npz")

    js.fit(runs, law="chinchilla", loss="huber", delta=1e-3, seed=0, search=js.Search(starts=8, prune="auto"))
    js.fit(runs, law=law, loss=js.squared(), fixed={"E": 1.8}, search=js.search.exhaustive(),
           runner=js.Runner(progress=False))
    js.bootstrap(runs, n_resamples=100, seed=0, search=js.Search(starts="best"), columns=js.Columns(y="loss"))
    js.load("fit.npz")
    js.chinchilla_grid()
    js.random_starts(law, 16, seed=1)
    frame: pd.DataFrame = read_table("runs.jsonl")
    version: str = js.__version__
    budgets: tuple[float, ...] = js.HOFFMANN_BUDGETS
    note: str = js.cpu_devices_note()
    del same, tied, names, registered, one_input, params, log_params, loss, optimal, at_best, table, saved
    del frame, version, budgets, note
