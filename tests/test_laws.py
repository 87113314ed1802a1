"""Every registered law against its formula written out in numpy here (independent of the jnp code).

The tests are parametrised over the registry (``LAWS``): a newly registered law is tested the moment
it is registered, and one without an entry in ``CASES`` below FAILS (it is not skipped).

Starts: to keep the suite fast, every fit runs from :func:`starts_of` = 20 rows spread evenly
through the law's default grid (``np.linspace(0, K - 1, 20)`` row indices), the same rows for the
noise-free recovery, the noisy comparison with scipy, and the fixed-parameter fits.
"""
from __future__ import annotations

import contextlib
import ctypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

import jaxscale as js
from jaxscale.engine import float64
from jaxscale.kernels.laws import CHINCHILLA, LAWS, Law, broken_power_law
from jaxscale.kernels.solvers.objective import predict_and_jacobian

N_STARTS = 20
DELTA = 1e-3


# ---------------------------------------------------------------- the formulas, in numpy only
def chinchilla_np(p, N, D):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def power_law_np(p, x):
    return p["E"] + p["A"] * x ** -p["alpha"]


def pure_power_law_np(p, x):
    return (p["x_c"] / x) ** p["alpha"]


def kaplan_np(p, N, D):
    return ((p["N_c"] / N) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / D) ** p["alpha_D"]


def data_constrained_np(p, N, D, U):
    """Muennighoff et al. (2023), as in the datablations README's ``scaling_law`` (with U_D = min(U, D))."""
    A, B, E, alpha, beta = p["A"], p["B"], p["E"], p["alpha"], p["beta"]
    rn_star, rd_star = p["R_N_star"], p["R_D_star"]
    U_D = np.minimum(U, D)
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    U_N = np.minimum(N, G * (U_D * G) ** (beta / alpha))
    R_N, R_D = N / U_N - 1.0, D / U_D - 1.0
    N_eff = U_N + U_N * rn_star * (1.0 - np.exp(-R_N / rn_star))
    D_eff = U_D + U_D * rd_star * (1.0 - np.exp(-R_D / rd_star))
    return E + A / N_eff ** alpha + B / D_eff ** beta


def bnsl_np(p, x, n_breaks=1):
    out = p["b"] * x ** -p["c0"]
    for i in range(1, n_breaks + 1):
        out = out * (1.0 + (x / p[f"d{i}"]) ** (1.0 / p[f"f{i}"])) ** (-p[f"c{i}"] * p[f"f{i}"])
    return p["a"] + out


def sigmoid_np(p, x):
    return p["b"] + p["a"] / (1.0 + np.exp(-p["k"] * (x - p["x0"])))


def exponential_metric_np(p, x):
    return p["eps"] - p["k"] * np.exp(-p["gamma"] * x)


def lr_annealing_np(p, S1, S2):
    """Tissue et al. (2024): L = L0 + A * S1^-alpha - C * S2."""
    return p["L0"] + p["A"] * S1 ** -p["alpha"] - p["C"] * S2


def forward_momentum_np(p, S1, N, M):
    """Wang et al. (2026): L = L0 + A / S1^alpha_S + B / N^alpha_N - C * M."""
    return p["L0"] + p["A"] / S1 ** p["alpha_S"] + p["B"] / N ** p["alpha_N"] - p["C"] * M


def curve_design(with_size: bool = False):
    """Checkpoints of cosine, linear and WSD runs (areas from jaxscale.kernels.schedules)."""
    from jaxscale.kernels.schedules import lr_schedule, schedule_areas

    cols = {"S1": [], "S2": [], "N": [], "M": []}
    sizes = [1e8, 4e8, 1.6e9, 6e9] if with_size else [None]
    for kind in ("cosine", "linear", "wsd"):
        for n in sizes:
            lr = lr_schedule(kind, 4000, 3e-3, warmup=0.02)
            at = np.unique(np.linspace(200, 4000, 12).astype(int))
            areas = schedule_areas(lr, at, warmup_steps=80)
            for key in ("S1", "S2", "M"):
                cols[key].append(areas[key])
            cols["N"].append(np.full(at.size, n or 1.0))
    out = {k: np.concatenate(v) for k, v in cols.items()}
    return {k: out[k] for k in (("S1", "N", "M") if with_size else ("S1", "S2"))}


def grid2(a, b):
    u, v = np.meshgrid(a, b, indexing="ij")
    return u.ravel(), v.ravel()


def data_constrained_design():
    N, U, epochs = np.meshgrid(np.logspace(7, 9.5, 6), [1e8, 1e9, 1e10], [0.5, 1, 2, 4, 8, 16, 32, 64],
                               indexing="ij")
    return {"N": N.ravel(), "D": (U * epochs).ravel(), "U": U.ravel()}


@dataclass
class Case:
    truth: dict  # natural parameters
    formula: Callable  # numpy formula(truth, **inputs)
    design: Callable[[], dict]  # inputs (natural units) of the synthetic runs
    fix: tuple  # (natural name, value) for the fixed-parameter test
    noise: float = 0.01  # log-normal on losses; additive on raw targets


CASES = {
    "chinchilla": Case({"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}, chinchilla_np,
                       lambda: dict(zip("ND", grid2(np.logspace(7, 10.5, 8), np.logspace(9, 12, 8)))),
                       ("alpha", 0.3)),
    "power_law": Case({"A": 310.0, "E": 1.7, "alpha": 0.31}, power_law_np,
                      lambda: {"x": np.logspace(7, 11, 30)}, ("E", 1.5)),
    "pure_power_law": Case({"x_c": 8.8e13, "alpha": 0.076}, pure_power_law_np,
                           lambda: {"x": np.logspace(6, 10, 20)}, ("alpha", 0.08)),
    "kaplan": Case(dict(js.kernels.laws.KAPLAN_PARAMS), kaplan_np,
                   lambda: dict(zip("ND", grid2(np.logspace(6, 9.5, 8), np.logspace(8, 11, 8)))), ("D_c", 1e13)),
    "data_constrained": Case({"A": 520.8, "B": 1487.7, "E": 1.869, "alpha": 0.34, "beta": 0.37, "R_N_star": 5.31,
                              "R_D_star": 15.39}, data_constrained_np, data_constrained_design, ("R_D_star", 10.0)),
    "broken_power_law": Case({"a": 1.5, "b": 40.0, "c0": 0.1, "c1": 0.35, "d1": 1e8, "f1": 0.5}, bnsl_np,
                             lambda: {"x": np.logspace(5, 11, 40)}, ("f1", 1.0)),
    "sigmoid": Case({"a": -0.45, "b": 0.7, "k": 4.0, "x0": 2.8}, sigmoid_np,
                    lambda: {"x": np.linspace(1.8, 4.0, 30)}, ("b", 0.72)),
    "lr_annealing": Case({"L0": 2.0, "A": 0.5, "alpha": 0.6, "C": 0.05}, lr_annealing_np, curve_design,
                         ("alpha", 0.5)),
    "forward_momentum": Case({"L0": 1.8, "A": 0.6, "B": 300.0, "alpha_S": 0.5, "alpha_N": 0.34, "C": 0.002},
                             forward_momentum_np, lambda: curve_design(True), ("alpha_N", 0.3)),
    "exponential_metric": Case({"eps": 0.85, "k": 2.0, "gamma": 0.9}, exponential_metric_np,
                               lambda: {"x": np.linspace(2.0, 4.5, 30)}, ("eps", 0.86), noise=0.002),
}


def case_of(name: str) -> Case:
    if name not in CASES:
        pytest.fail(f"law {name!r} is registered but tests/test_laws.py has no CASES[{name!r}] (true parameters, "
                    "numpy formula, input design): add one so the law is tested")
    case = CASES[name]
    assert list(case.truth) == list(LAWS[name].natural_names), "CASES truth must list the natural parameters in order"
    return case


def starts_of(law: Law) -> np.ndarray:
    grid = law.grid()
    return grid[np.unique(np.linspace(0, len(grid) - 1, N_STARTS).astype(int))]


def frame(name: str, inputs: dict, rng=None) -> dict:
    """Runs from the numpy formula; with ``rng``, noisy (log-normal on a loss, additive on a raw target)."""
    case = CASES[name]
    y = case.formula(case.truth, **inputs)
    if rng is not None:
        noise = case.noise * rng.normal(size=y.shape)
        y = y + noise if LAWS[name].target_scale == "raw" else y * np.exp(noise)
    return {**inputs, "loss": y}


def to_natural_np(law: Law, theta) -> dict:
    """Fitted -> natural parameters, written out: ``exp`` where the law fits a logarithm."""
    return {n: (np.exp(t) if log else t) for n, t, log in zip(law.natural_names, theta, law.log_scale)}


def huber_np(r):
    return np.where(np.abs(r) <= DELTA, 0.5 * r**2, DELTA * (np.abs(r) - 0.5 * DELTA))


def objective_np(law: Law, case: Case, theta, inputs, y) -> float:
    """The Huber-sum objective in the law's fitting space, numpy only."""
    with np.errstate(all="ignore"):
        pred = case.formula(to_natural_np(law, theta), **inputs)
        r = (y - pred) if law.target_scale == "raw" else (np.log(y) - np.log(pred))
        value = float(np.sum(huber_np(r)))
    return value if np.isfinite(value) else 1e10


REGISTERED = sorted(LAWS)


def test_cases_name_registered_laws():
    stale = sorted(set(CASES) - set(LAWS))
    assert not stale, f"CASES has entries for unregistered laws {stale}"


# ---------------------------------------------------------------- predictions and recovery
@pytest.mark.parametrize("name", REGISTERED)
def test_noise_free_recovery_and_predictions(name):
    """Noise-free runs from the numpy formula: parameters back to 1e-3 relative from 20 grid starts, and
    the law's predictions equal the numpy formula to 1e-8 relative (at the truth and at the fit)."""
    case, law = case_of(name), LAWS[name]
    inputs = case.design()
    fit = js.fit(frame(name, inputs), law=name, starts=starts_of(law))
    for param, value in case.truth.items():
        assert fit.params[param] == pytest.approx(value, rel=1e-3), (name, param, fit.params[param])
    rng = np.random.default_rng(1)
    fresh = {k: v * np.exp(rng.uniform(-0.3, 0.3, v.shape)) for k, v in inputs.items()}
    truth_fit = js.FitResult.from_params(case.truth, law=name)
    np.testing.assert_allclose(truth_fit.predict(**fresh), case.formula(case.truth, **fresh), rtol=1e-8)
    np.testing.assert_allclose(fit.predict(**fresh), case.formula(dict(fit.params), **fresh), rtol=1e-8)


@pytest.mark.parametrize("name", REGISTERED)
def test_noisy_fit_at_least_as_good_as_scipy(name):
    """Noisy runs: the best objective is <= scipy L-BFGS-B (finite differences, the same Huber objective in
    numpy, the same 20 starts) + 1e-9, and it is the numpy objective at the reported parameters."""
    case, law = case_of(name), LAWS[name]
    inputs = case.design()
    data = frame(name, inputs, np.random.default_rng(7))
    starts = starts_of(law)
    fit = js.fit(data, law=name, starts=starts)
    y = data["loss"]
    assert fit.objective == pytest.approx(objective_np(law, case, fit.theta, inputs, y), rel=1e-9, abs=1e-15)
    with scipy_blas_single_thread():
        best_scipy = min(scipy_fit(law, case, s, inputs, y) for s in starts)
    assert fit.objective <= best_scipy + 1e-9, (fit.objective, best_scipy)


@contextlib.contextmanager
def scipy_blas_single_thread():
    """Run scipy's bundled OpenBLAS on one thread (as threadpoolctl would): L-BFGS-B's tiny LAPACK calls
    otherwise wake its thread pool on every iteration, 3-5x slower on a busy 2-core machine. Linux only;
    elsewhere a no-op. Results do not change (same arithmetic on 7x7 systems)."""
    maps = Path("/proc/self/maps")
    paths = sorted(set(re.findall(r"(/\S*scipy\.libs/libscipy_openblas[^/\s]*\.so)", maps.read_text()))) \
        if maps.exists() else []
    libs = [lib for lib in map(ctypes.CDLL, paths) if hasattr(lib, "scipy_openblas_set_num_threads")]
    before = [lib.scipy_openblas_get_num_threads() for lib in libs]
    for lib in libs:
        lib.scipy_openblas_set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.scipy_openblas_set_num_threads(n)


def scipy_fit(law, case, start, inputs, y) -> float:
    """Best objective scipy L-BFGS-B (2-point finite differences) reaches from ``start``."""
    res = minimize(lambda t: objective_np(law, case, t, inputs, y), np.asarray(start, float), method="L-BFGS-B",
                   options={"maxiter": 2000})
    return float(res.fun)


@pytest.mark.parametrize("name", REGISTERED)
def test_jacobian_equals_jacfwd(name):
    """The Jacobian the solvers use (analytic where the law gives one) == jax.jacfwd of log_predict."""
    case, law = case_of(name), LAWS[name]
    feats = law.features(np.stack([case.design()[v] for v in law.inputs], axis=1))
    truth = law.from_natural(np.array(list(case.truth.values())))
    rng = np.random.default_rng(3)
    thetas = np.stack([truth + rng.normal(0, 0.05, truth.shape) for _ in range(3)] + list(starts_of(law)[1::7]))
    with float64():
        x, t = jnp.asarray(feats), jnp.asarray(thetas)
        both = jax.jit(jax.vmap(lambda th: (predict_and_jacobian(law, th, x),  # one compilation for both
                                            (law.log_predict(th, x), jax.jacfwd(law.log_predict)(th, x)))))
        (z, jac), (z_ref, jac_ref) = both(t)
    np.testing.assert_allclose(z, z_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jac, jac_ref, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- constraints
@pytest.mark.parametrize("name", REGISTERED)
def test_fixed_parameter_is_held_and_costs_objective(name, tmp_path):
    """``fixed=`` holds the value exactly (as given) and the objective uses it (== numpy objective), and the
    constrained optimum is never below the free one (the free fit also starts from the constrained optimum).
    The constrained fit skips the polish stage (``polish=0``): one compilation less per law."""
    case, law = case_of(name), LAWS[name]
    inputs = case.design()
    data = frame(name, inputs, np.random.default_rng(11))
    param, value = case.fix
    constrained = js.constrain(law, {param: value})
    fixed = js.fit(data, law=name, fixed={param: value}, starts=starts_of(constrained), polish=0)
    assert fixed.params[param] == value and fixed.fixed == {param: value}
    assert param not in fixed.law.natural_names and fixed.theta.shape == (law.n_params - 1,)
    starts = starts_of(law)
    starts[-1] = fixed.law.expand(fixed.theta)
    free = js.fit(data, law=name, starts=starts)
    assert fixed.objective >= free.objective - 1e-12
    again = js.load(fixed.save(tmp_path / "fixed.npz"))  # the file names the base law and what is fixed
    assert again.law == fixed.law and again.fixed == {param: value}
    np.testing.assert_array_equal(again.params, fixed.params)
    assert fixed.objective == pytest.approx(objective_np(law, case, fixed.law.expand(fixed.theta), inputs,
                                                         data["loss"]), rel=1e-9)


def test_chinchilla_tied_exponents():
    """tied={"beta": "alpha"}: one shared exponent, recovered from data generated with alpha = beta."""
    case = CASES["chinchilla"]
    truth = {**case.truth, "alpha": 0.31, "beta": 0.31}
    inputs = case.design()
    data = {**inputs, "loss": chinchilla_np(truth, **inputs) * np.exp(0.003 * np.sin(np.arange(64)))}
    tied = js.fit(data, tied={"beta": "alpha"}, starts=starts_of(js.constrain(CHINCHILLA, tied={"beta": "alpha"})),
                  polish=0)
    assert tied.params["alpha"] == tied.params["beta"] and tied.tied == {"beta": "alpha"}
    assert tied.params["alpha"] == pytest.approx(0.31, rel=0.05)
    starts = starts_of(CHINCHILLA)
    starts[-1] = tied.law.expand(tied.theta)
    free = js.fit(data, starts=starts)
    assert tied.objective >= free.objective - 1e-12
    # the bootstrap summary lists the tied exponent too, saying it is tied (it used to be left out)
    boot = js.bootstrap(data, tied={"beta": "alpha"}, fixed={"E": truth["E"]}, n_resamples=8, starts="best", seed=1,
                        progress=False)
    table = boot.summary()
    assert list(table.index[:5]) == ["A", "B", "E", "alpha", "beta"]
    assert table.loc["beta", "held"] == "tied to alpha" and table.loc["E", "held"] == "fixed"
    assert table.loc["alpha", "held"] == "" and table.loc["E", "se"] == 0.0
    np.testing.assert_array_equal(table.loc["beta", ["estimate", "se", "ci_low", "ci_high"]].to_numpy(float),
                                  table.loc["alpha", ["estimate", "se", "ci_low", "ci_high"]].to_numpy(float))


# ---------------------------------------------------------------- compute-optimal allocation
CLOSED_FORM = {"chinchilla": [CASES["chinchilla"].truth, js.datasets.EPOCH_PARAMS,
                              {"A": 50.0, "B": 9000.0, "E": 1.2, "alpha": 0.25, "beta": 0.45}],
               "kaplan": [CASES["kaplan"].truth, {"N_c": 1e12, "D_c": 5e14, "alpha_N": 0.3, "alpha_D": 0.2}]}


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_numerical_compute_optimal_equals_closed_form(name):
    """The base Law.compute_optimal (grid, golden section, Newton) == the law's closed form to 1e-10."""
    law = LAWS[name]
    thetas = np.stack([law.from_natural(np.array(list(p.values()))) for p in CLOSED_FORM[name]])
    C = np.array([1e18, 3.3e20, 5.88e23, 1e26])
    n_num, d_num = Law.compute_optimal(law, thetas, C)
    n_closed, d_closed = law.compute_optimal(thetas, C)
    np.testing.assert_allclose(n_num, n_closed, rtol=1e-10)
    np.testing.assert_allclose(d_num, d_closed, rtol=1e-10)
    np.testing.assert_allclose(d_closed, C / (6 * n_closed), rtol=1e-14)
    one, _ = law.compute_optimal(thetas[0], C[1])  # one fit, one budget: scalars
    assert np.ndim(one) == 0 and one == pytest.approx(n_closed[0, 1], rel=1e-14)
    exponents = law.derived(dict(zip(law.natural_names, law.to_natural(thetas).T)))["a_opt"]
    np.testing.assert_allclose(np.log(n_closed[:, -1] / n_closed[:, 0]) / np.log(C[-1] / C[0]), exponents,
                               rtol=1e-10)  # N_opt ~ C^a_opt


def test_data_constrained_compute_optimal_matches_brute_force():
    """compute_optimal(C, U=...) through the numerical hook == a dense numpy search along C = 6ND."""
    truth = CASES["data_constrained"].truth
    result = js.FitResult.from_params(truth, law="data_constrained")
    for U, budgets in [(1e9, [1e19, 1e20, 1e21]), (1e11, [1e21, 1e23, 5.88e23])]:  # 0.2 to 43 epochs at the optimum
        table = result.compute_optimal(np.array(budgets), U=U)
        for C, opt in zip(budgets, table.itertuples()):
            N = np.logspace(0.05 * np.log10(C / 6), 0.95 * np.log10(C / 6), 400_001)
            loss = data_constrained_np(truth, N, C / (6 * N), U)
            k = int(np.argmin(loss))
            step = np.log(N[1] / N[0])
            assert abs(np.log(opt.N_opt / N[k])) <= 2 * step, (C, U, opt.N_opt, N[k])
            assert opt.loss <= loss[k] + 1e-12 and opt.loss == pytest.approx(loss[k], rel=1e-9)
            assert opt.loss == pytest.approx(data_constrained_np(truth, opt.N_opt, opt.D_opt, U), rel=1e-12)
            assert opt.D_opt == pytest.approx(C / (6 * opt.N_opt), rel=1e-12)
    with pytest.raises(ValueError, match="U=..."):
        result.compute_optimal(1e21)


def test_data_constrained_reproduces_the_authors_numbers():
    """The datablations README (Parametric Fit): ``scaling_law`` prints 2.2256440889984477 and
    2.2269634075087867 for the two models of the paper's Figure 1 (right), and its grid search puts the
    optimum for the second model's compute at ~227B tokens and ~6.8B parameters."""
    dc = js.FitResult.from_params(js.kernels.laws.MUENNIGHOFF_PARAMS, law="data_constrained")
    got = dc.predict(N=np.array([6.34e9, 8.67e9]), D=np.array([242e9, 178e9]), U=25e9)
    np.testing.assert_allclose(got, [2.2256440889984477, 2.2269634075087867], rtol=1e-13)
    opt = dc.compute_optimal(np.array([6 * 8.67e9 * 178e9, 1e22, 1e23]), U=25e9).iloc[0]  # shape of the test above
    assert opt["D_opt"] == pytest.approx(227e9, rel=5e-3) and opt["N_opt"] == pytest.approx(6.8e9, rel=5e-3)


def test_data_constrained_decay_only_fit():
    """As the paper does: the base law fixed, only R_N* and R_D* fitted (from the constrained default grid)."""
    case = CASES["data_constrained"]
    inputs = case.design()
    base = {k: case.truth[k] for k in ("A", "B", "E", "alpha", "beta")}
    fit = js.fit(frame("data_constrained", inputs), law="data_constrained", fixed=base, polish=0)
    assert fit.law.natural_names == ("R_N_star", "R_D_star") and len(fit.starts) == 9
    for k, v in base.items():
        assert fit.params[k] == v
    np.testing.assert_allclose(fit.params[["R_N_star", "R_D_star"]], [5.31, 15.39], rtol=1e-6)


def test_data_constrained_with_one_unique_token_budget():
    """One U for every run (the common design: one data set, repeated for more epochs) still identifies
    R_N* and R_D* once the base law is fixed; U is the law's one ``constant_inputs`` entry, so it passes
    validation while a single N is still refused."""
    case = CASES["data_constrained"]
    N = np.repeat(np.geomspace(1e8, 9e9, 6), 5)
    U = np.full(N.shape, 3e9)
    D = U * np.tile([0.5, 1.0, 4.0, 16.0, 60.0], 6)  # up to 60 epochs
    base = {k: case.truth[k] for k in ("A", "B", "E", "alpha", "beta")}
    fit = js.fit(frame("data_constrained", {"N": N, "D": D, "U": U}), law="data_constrained", fixed=base, polish=0)
    np.testing.assert_allclose(fit.params[["R_N_star", "R_D_star"]], [5.31, 15.39], rtol=1e-6)
    one_n = frame("data_constrained", {"N": np.full(N.shape, 1e9), "D": D, "U": U})
    with pytest.raises(ValueError, match=r"column 'N' \(input N\) has a single distinct value"):
        js.fit(one_n, law="data_constrained", fixed=base)


def test_broken_power_law_with_two_breaks_predicts_its_formula():
    law = broken_power_law(2)
    truth = {"a": 1.2, "b": 30.0, "c0": 0.05, "c1": 0.2, "c2": 0.4, "d1": 1e6, "d2": 1e9, "f1": 0.3, "f2": 0.8}
    assert law.natural_names == tuple(truth) and law.grid().shape[1] == 9
    x = np.logspace(3, 12, 50)
    got = law.predict(law.from_natural(np.array(list(truth.values()))), x[:, None])
    np.testing.assert_allclose(got, bnsl_np(truth, x, n_breaks=2), rtol=1e-12)
    with pytest.raises(ValueError, match="n_breaks"):
        broken_power_law(0)
