"""Laws, losses and lane solvers in isolation (synthetic data, no files needed)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxscale as js
from jaxscale.engine import float64, run_tasks
from jaxscale.kernels.laws import CHINCHILLA, POWER_LAW, Law
from jaxscale.kernels.losses import huber, huber_rho, squared
from jaxscale.kernels.solvers import LevenbergMarquardt, evaluate
from jaxscale.kernels.solvers.common import spd_solve
from jaxscale.kernels.solvers.objective import predict_and_jacobian

TRUTH = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}


def clean_data():
    return js.datasets.synthetic(TRUTH, noise=0.0)


def test_huber_matches_definition():
    r = np.array([-0.5, -1e-3, -2e-4, 0.0, 5e-4, 1e-3, 0.02])
    with float64():
        got = np.asarray(huber_rho(jnp.asarray(r), 1e-3))
    want = np.where(np.abs(r) <= 1e-3, 0.5 * r**2, 1e-3 * (np.abs(r) - 0.5e-3))
    np.testing.assert_allclose(got, want, rtol=1e-15)
    with pytest.raises(ValueError, match="delta"):
        huber(0.0)


@pytest.mark.parametrize("law", [CHINCHILLA, POWER_LAW])
def test_analytic_jacobian_equals_autodiff(law):
    rng = np.random.default_rng(0)
    log_x = np.log(rng.uniform(1e7, 1e11, size=(40, len(law.inputs))))
    generic = Law(law.name, law.inputs, law.param_names, law.natural_names, law.log_predict, law.log_scale,
                  law.grid)  # no fast path -> forward-mode autodiff
    with float64():
        for theta in law.grid()[::97]:
            t = jnp.asarray(theta + rng.normal(0, 0.1, theta.shape))
            fast = predict_and_jacobian(law, t, jnp.asarray(log_x))
            slow = predict_and_jacobian(generic, t, jnp.asarray(log_x))
            np.testing.assert_allclose(fast[0], slow[0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(fast[0], law.log_predict(t, jnp.asarray(log_x)), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(fast[1], slow[1], rtol=1e-9, atol=1e-12)


def test_gradient_matches_finite_differences():
    data = clean_data()
    log_x = np.log(data[["N", "D"]].to_numpy())
    log_y = np.log(data["loss"].to_numpy()) + 0.003 * np.sin(np.arange(len(data)))
    theta = np.array([6.0, 6.0, 0.5, 0.33, 0.29])
    with float64():
        ev = evaluate(CHINCHILLA, huber(1e-3), jnp.asarray(theta), jnp.asarray(log_x), jnp.asarray(log_y),
                      jnp.ones(len(data)))
        f = lambda t: float(evaluate(CHINCHILLA, huber(1e-3), jnp.asarray(t), jnp.asarray(log_x),  # noqa: E731
                                     jnp.asarray(log_y), jnp.ones(len(data))).value)
        h = 1e-7
        fd = [(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(ev.grad, fd, rtol=1e-5, atol=1e-9)


def test_spd_solve_matches_numpy():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    m = m @ m.T + 0.1 * np.eye(5)
    b = rng.normal(size=5)
    with float64():
        np.testing.assert_allclose(spd_solve(jnp.asarray(m), jnp.asarray(b)), np.linalg.solve(m, b), rtol=1e-10)
        assert np.isnan(np.asarray(spd_solve(jnp.asarray(-np.eye(5)), jnp.asarray(b)))).all()


@pytest.mark.parametrize("solver", ["lm", "bfgs"])
def test_noise_free_recovery(solver):
    """Noise-free synthetic data from known parameters: recovered to 1e-6 relative."""
    fit = js.fit(clean_data(), starts=64, seed=1, solver=solver)
    assert fit.objective < 1e-20
    for name, value in TRUTH.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-6), name


def test_power_law_recovery():
    n = np.logspace(7, 11, 30)
    loss = 1.7 + 310.0 * n ** -0.31
    fit = js.fit({"N": n, "loss": loss}, law="power_law", x="N", starts=32)
    np.testing.assert_allclose(fit.params[["A", "E", "alpha"]], [310.0, 1.7, 0.31], rtol=1e-6)
    assert fit.predict(x=1e9) == pytest.approx(1.7 + 310.0 * 1e9 ** -0.31, rel=1e-8)
    with pytest.raises(ValueError, match="missing.*'x'"):
        fit.predict(N=1e9)


def test_user_defined_law_slots_in():
    """A law written by a user (autodiff Jacobian) fits without touching the solvers."""
    def log_predict(theta, log_x):
        return jnp.logaddexp(theta[0] - theta[2] * log_x[:, 0], theta[1])

    law = Law("my_law", ("N",), ("a", "e", "alpha"), ("A", "E", "alpha"), log_predict, (True, True, False),
              grid=lambda: js.kernels.laws.power_law.power_law_grid())
    n = np.logspace(7, 10, 25)
    fit = js.fit({"N": n, "loss": 2.0 + 100.0 * n ** -0.25}, law=law, starts=16)
    np.testing.assert_allclose(fit.params.to_numpy(), [100.0, 2.0, 0.25], rtol=1e-6)


def test_weights_equal_duplicated_rows():
    """Count weights are how resamples are expressed: w=2 must equal a duplicated row."""
    data = js.datasets.synthetic(TRUTH, noise=0.02, seed=5)
    counts = np.random.default_rng(0).integers(0, 3, len(data))
    starts = js.chinchilla_grid()[::150]
    weighted = js.fit(data, starts=starts, weights=counts)
    duplicated = js.fit(data.loc[data.index.repeat(counts)].reset_index(drop=True), starts=starts)
    assert weighted.objective == pytest.approx(duplicated.objective, rel=1e-10)
    np.testing.assert_allclose(weighted.theta, duplicated.theta, rtol=1e-5)


def test_results_independent_of_lanes_and_chunks():
    """Bit-identical across chunk sizes for a fixed lane count; equal to rounding across lane counts."""
    data = js.datasets.synthetic(TRUTH, noise=0.02, seed=7)
    log_x = np.log(data[["N", "D"]].to_numpy())
    log_y = np.log(data["loss"].to_numpy())
    starts = js.chinchilla_grid()[::30]

    def run(lanes, chunk):
        return run_tasks(LevenbergMarquardt(), CHINCHILLA, huber(), log_x, log_y, np.ones(len(data)), starts,
                         n_lanes=lanes, chunk_size=chunk)

    base = run(16, None)
    for chunk in (7, 64):
        other = run(16, chunk)
        np.testing.assert_array_equal(base.theta, other.theta)
        np.testing.assert_array_equal(base.iterations, other.iterations)
    wide = run(64, None)  # other lane counts vectorise differently: same answers to rounding
    np.testing.assert_allclose(base.value, wide.value, rtol=1e-9)


def test_nan_lane_is_flagged_and_isolated():
    data = js.datasets.synthetic(TRUTH, noise=0.02, seed=7)
    log_x = np.log(data[["N", "D"]].to_numpy())
    log_y = np.log(data["loss"].to_numpy())
    starts = js.chinchilla_grid()[::300].copy()
    clean = run_tasks(LevenbergMarquardt(), CHINCHILLA, huber(), log_x, log_y, np.ones(len(data)), starts, n_lanes=4)
    poisoned = starts.copy()
    poisoned[3] = [np.nan, 0, 0, 0, 0]
    dirty = run_tasks(LevenbergMarquardt(), CHINCHILLA, huber(), log_x, log_y, np.ones(len(data)), poisoned, n_lanes=4)
    assert not dirty.converged[3]
    keep = np.arange(len(starts)) != 3
    np.testing.assert_array_equal(clean.theta[keep], dirty.theta[keep])


def test_squared_loss_is_least_squares():
    data = js.datasets.synthetic(TRUTH, noise=0.01, seed=3)
    fit = js.fit(data, loss="squared", starts=js.chinchilla_grid()[::90])
    log_x = np.log(data[["N", "D"]].to_numpy())
    with float64():
        log_hat = np.asarray(CHINCHILLA.log_predict(jnp.asarray(fit.theta), jnp.asarray(log_x)))
    r = np.log(data["loss"].to_numpy()) - log_hat
    assert fit.objective == pytest.approx(0.5 * np.sum(r**2), rel=1e-10)
    assert squared().name == "squared"


def test_float64_is_local():
    js.fit(clean_data(), starts=4)
    assert not jax.config.jax_enable_x64  # the user's global setting is untouched
