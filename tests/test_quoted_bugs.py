"""Bugs quoted in the laws/groups issue, each pinned by a test that failed before its fix."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jaxscale as js
from jaxscale.kernels.losses import Loss


def test_bootstrap_predict_refuses_a_missing_third_input():
    """BootstrapResult.predict(N, D) on a law of N, D and U used U = D silently (a clamped column index)."""
    law = js.LAWS["data_constrained"]
    truth = law.from_natural([520.8, 1487.7, 1.869, 0.34, 0.37, 5.31, 15.39])
    N = np.repeat([1e8, 3e8, 1e9], 6)
    U = np.tile([2e9, 8e9], 9)
    D = U * np.tile([1, 1, 4, 4, 16, 16], 3)
    loss = law.predict(truth, np.c_[N, D, U])
    data = {"N": N, "D": D, "U": U, "loss": loss}
    fixed = {"A": 520.8, "B": 1487.7, "E": 1.869, "alpha": 0.34, "beta": 0.37}
    boot = js.bootstrap(data, law="data_constrained", fixed=fixed, n_resamples=3, starts="best", progress=False)
    with pytest.raises(ValueError, match=r"missing \['U'\]"):
        boot.predict(N=1e9, D=1e10)
    table = boot.predict(N=1e9, D=1e10, U=2e9)
    assert table["loss"].iloc[0] == pytest.approx(float(law.predict(truth, np.array([[1e9, 1e10, 2e9]]))[0]), rel=1e-6)


def test_user_losses_with_one_name_do_not_share_a_kernel():
    """Two user losses with the same name but different maths returned each other's numbers (kernel cache by name)."""
    def make(scale):
        return Loss("mine", rho=lambda r: scale * 0.5 * r * r, psi=lambda r: scale * r,
                    curvature=lambda r: scale * jnp.ones_like(r), hessian=lambda r: scale * jnp.ones_like(r))

    data = js.datasets.synthetic(sizes_per_budget=5, noise=0.02, seed=3)
    one = js.fit(data, starts=4, loss=make(1.0), polish=0)
    ten = js.fit(data, starts=4, loss=make(10.0), polish=0)
    assert make(1.0) != make(1.0)  # distinct functions: distinct losses
    assert js.huber(1e-3) == js.huber(1e-3)  # built-ins: equal settings, one compiled kernel
    np.testing.assert_allclose(ten.objective, 10.0 * one.objective, rtol=1e-8)


def test_fit_and_bootstrap_share_one_multistart_vocabulary():
    """Issue 8: ``prune`` vs ``prune_keep`` and ``polish: int`` vs ``polish: bool`` were two vocabularies.
    Since issue 17 both take the same ``search=`` (a Search) and ``runner=`` (a Runner)."""
    import dataclasses
    import inspect

    fit_params = inspect.signature(js.fit).parameters
    boot_params = inspect.signature(js.bootstrap).parameters
    for name in ("search", "runner", "columns", "seed"):
        assert name in fit_params and name in boot_params, name
    search_fields = {f.name: f.default for f in dataclasses.fields(js.Search)}
    runner_fields = {f.name for f in dataclasses.fields(js.Runner)}
    assert {"prune", "prune_iter", "polish", "solver", "starts"} <= set(search_fields)
    assert {"n_lanes", "chunk_size", "devices"} <= runner_fields
    assert search_fields["prune"] == "auto" and search_fields["polish"] is None  # the driver's default: 8 or 1
    with pytest.raises(ValueError, match=r"polish must be an integer >= 0, got True"):
        js.bootstrap({"N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9], "D": [1e9, 3e9, 2e9, 8e9, 5e9, 9e9],
                      "loss": [3.1, 2.9, 2.95, 2.7, 2.75, 2.6]}, n_resamples=2, search=js.Search(polish=True))


def test_the_old_prune_keep_name_still_works_and_warns(monkeypatch):
    from jaxscale.api import bootstrap as boot_module
    from jaxscale.api import search as search_module

    seen = {}

    def fake_resolve(prune, prune_iter, n_starts):
        seen["prune"] = prune
        raise RuntimeError("stop here")

    from types import SimpleNamespace

    monkeypatch.setattr(search_module, "resolve_prune", fake_resolve)
    monkeypatch.setattr(boot_module, "fit_problem", lambda *a, **k: SimpleNamespace(theta=np.zeros(5), objective=0.0,
                                                                            notes=lambda: []))
    data = {"N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9], "D": [1e9, 3e9, 2e9, 8e9, 5e9, 9e9],
            "loss": [3.1, 2.9, 2.95, 2.7, 2.75, 2.6]}
    with pytest.warns(DeprecationWarning, match="prune="), pytest.raises(RuntimeError, match="stop here"):
        js.bootstrap(data, n_resamples=2, prune_keep=None, starts=np.zeros((1, 5)) + [6, 6, 0.5, 0.3, 0.3])
    assert seen["prune"] is None


def test_a_start_that_runs_e_to_zero_is_flagged_not_silently_converged():
    """Issue 12's per-start honesty: an end point where a log-scale parameter ran to ~0 (the objective may
    still fall; scipy walks further down) is flagged in the starts table and the summary warns."""
    from jaxscale.api.fit import vanishing

    theta = np.array([[6.0, 7.0, 0.5, 0.3, 0.3], [6.0, 7.0, -33.0, 0.3, 0.3], [6.0, -25.0, 0.5, 0.3, -30.0]])
    np.testing.assert_array_equal(vanishing(js.CHINCHILLA, theta), [False, True, True])  # exponents are not logs
    # data with no irreducible term: E -> 0 is the best the law can do
    N = np.repeat(np.geomspace(1e8, 1e10, 5), 4)
    D = np.tile(np.geomspace(1e9, 1e11, 4), 5)
    data = {"N": N, "D": D, "loss": 400.0 / N**0.34 + 2000.0 / D**0.36}
    fit = js.fit(data, starts=np.array([[6.0, 7.6, -30.0, 0.34, 0.36], [6.0, 7.6, 0.5, 0.34, 0.36]]), prune=None)
    assert fit.starts["vanishing"].all() and "vanishing term: E ran to ~0" in fit.summary()  # issue 18 wording
    healthy = js.fit({**data, "loss": data["loss"] + 1.7}, starts=js.random_starts(js.CHINCHILLA, 8, seed=0))
    assert not healthy.starts["vanishing"].any() and "ran to ~0" not in healthy.summary()
