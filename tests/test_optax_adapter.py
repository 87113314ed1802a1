"""OptaxSolver: optax transformations as lanes (value semantics, both loops, references)."""
from __future__ import annotations

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxscale.engine import float64, run_tasks
from jaxscale.kernels.laws import CHINCHILLA, PURE_POWER_LAW, Law
from jaxscale.kernels.losses import huber, squared
from jaxscale.kernels.solvers import MAX_ITER, SOLVERS, OptaxSolver
from jaxscale.kernels.solvers.optax_adapter import describe, lbfgs_direction

from conftest import reference_objective, scipy_fit

optax = pytest.importorskip("optax")  # an OptaxSolver needs optax; the rest of jaxscale does not


def pure_power_problem():
    log_x = np.log(np.logspace(6, 10, 30))[:, None]
    truth = np.array([np.log(8.8e13), 0.076])
    return log_x, truth[1] * (truth[0] - log_x[:, 0]), truth


def test_equal_transformations_make_equal_solvers():
    """The solver is a static jit argument: equal hyper-parameters must hash and compare equal."""
    a, b = OptaxSolver(optax.adam(1e-2)), OptaxSolver(optax.adam(1e-2))
    assert a == b and hash(a) == hash(b)
    assert a != OptaxSolver(optax.adam(1e-3))
    assert a != OptaxSolver(optax.adam(1e-2), max_iter=10)
    assert a != OptaxSolver(optax.sgd(1e-2))
    assert OptaxSolver(functools.partial(optax.adam, 1e-2)) == OptaxSolver(functools.partial(optax.adam, 1e-2))
    assert SOLVERS["optax-lbfgs"]() == SOLVERS["optax-lbfgs"]()
    schedule = functools.partial(optax.adam, optax.exponential_decay(1e-2, 100, 0.5))
    assert describe(schedule) != describe(functools.partial(optax.adam, optax.exponential_decay(1e-2, 100, 0.6)))
    # settings for recipes: plain JSON, the transformation as its description
    options = json.loads(json.dumps(a.options))
    assert options["transformation"] == describe(optax.adam(1e-2)) and "0.01" in options["transformation"]
    # dataclasses.replace (used by pruning) rebuilds an equal solver with the new setting
    cheap = dataclasses.replace(a, max_iter=40)
    assert cheap.max_iter == 40 and cheap == OptaxSolver(optax.adam(1e-2), max_iter=40)


def test_describe_never_equates_unreadable_objects():
    class Opaque:
        pass

    assert describe(Opaque()) != describe(Opaque())
    assert describe(np.arange(3.0)) == describe(np.arange(3.0)) != describe(np.arange(4.0))


@pytest.mark.parametrize("bad, match", [
    (dict(), "needs a transformation"),
    (dict(transformation=42), "GradientTransformation or a zero-argument factory"),
    (dict(transformation=lambda: 42), "returned int"),
    (dict(transformation=optax.sgd(0.1), linesearch="zoom"), "linesearch must be one of"),
    (dict(transformation=optax.sgd(0.1), max_iter=0), "max_iter must be >= 1"),
])
def test_bad_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        OptaxSolver(**bad)


def test_plain_loop_equals_optax_loop():
    """linesearch='none' is optax's own loop: theta_{k+1} = theta_k + update(grad f(theta_k)).

    Reference: the loop written out with jax.grad of a Huber objective written here."""
    log_x, log_y, truth = pure_power_problem()
    start = truth + np.array([1.0, 0.05])
    steps = 25
    solver = OptaxSolver(optax.adam(1e-2), max_iter=steps + 1)
    out = run_tasks(solver, PURE_POWER_LAW, huber(1e-3), log_x, log_y, np.ones(len(log_y)), start[None], n_lanes=1)
    assert out.status[0] == MAX_ITER and out.iterations[0] == steps + 1

    def objective(theta):
        r = jnp.asarray(log_y) - theta[1] * (theta[0] - jnp.asarray(log_x[:, 0]))
        return jnp.sum(jnp.where(jnp.abs(r) <= 1e-3, 0.5 * r**2, 1e-3 * (jnp.abs(r) - 0.5e-3)))

    with float64():
        tx = optax.adam(1e-2)
        theta = jnp.asarray(start)
        state = tx.init(theta)
        for _ in range(steps):
            updates, state = tx.update(jax.grad(objective)(theta), state, theta)
            theta = optax.apply_updates(theta, updates)
        np.testing.assert_allclose(out.theta[0], theta, rtol=1e-12)
        np.testing.assert_allclose(out.value[0], objective(theta), rtol=1e-10)
        assert out.value[0] < 0.5 * float(objective(jnp.asarray(start)))


def test_extra_args_transformation_counts_its_line_search():
    """optax.lbfgs() gets value/grad/value_fn; its zoom line search's evaluations count toward max_iter."""
    log_x, log_y, truth = pure_power_problem()
    starts = truth + np.array([[0.3, 0.01], [-0.2, -0.01]])
    full = run_tasks(OptaxSolver(optax.lbfgs, max_iter=500), PURE_POWER_LAW, huber(1e-3), log_x, log_y,
                     np.ones(len(log_y)), starts, n_lanes=2)
    np.testing.assert_allclose(full.theta, np.broadcast_to(truth, starts.shape), rtol=1e-8)
    one = run_tasks(OptaxSolver(optax.lbfgs, max_iter=1), PURE_POWER_LAW, huber(1e-3), log_x, log_y,
                    np.ones(len(log_y)), starts, n_lanes=2)
    # one step = the lane's evaluation + at least one line-search evaluation
    assert np.all(one.status == MAX_ITER) and np.all(one.iterations >= 2)


def test_lbfgs_lanes_match_scipy_on_the_same_objective():
    """optax-lbfgs (flattened Armijo) reaches scipy L-BFGS-B's optimum of the numpy objective (conftest)."""
    rng = np.random.default_rng(4)
    n = 10 ** rng.uniform(7.5, 10.5, 60)
    d = 10 ** rng.uniform(9, 12, 60)
    loss = (1.69 + 406.4 * n ** -0.34 + 410.7 * d ** -0.28) * np.exp(rng.normal(0, 0.01, 60))
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(loss)
    start = CHINCHILLA.from_natural(np.array([400.0, 400.0, 1.7, 0.33, 0.29]))
    ref = scipy_fit(start, log_n, log_d, log_l, ftol=1e-15, gtol=1e-12, maxiter=5000)
    out = run_tasks(SOLVERS["optax-lbfgs"](), CHINCHILLA, huber(1e-3), np.column_stack([log_n, log_d]), log_l,
                    np.ones(60), start[None], n_lanes=1)
    assert out.converged[0]
    assert out.value[0] <= ref.fun + 1e-12
    assert abs(out.value[0] - reference_objective(out.theta[0], log_n, log_d, log_l)[0]) < 1e-14
    np.testing.assert_allclose(out.theta[0], ref.x, rtol=1e-4)


def test_lbfgs_direction_is_optax_two_loop():
    """The registered solver uses optax's own L-BFGS direction (chain(scale_by_lbfgs, scale(-1)))."""
    solver = SOLVERS["optax-lbfgs"]()
    assert solver.linesearch == "backtracking" and solver.transformation is lbfgs_direction
    with float64():
        g = jnp.array([3.0, -4.0])
        updates, _ = lbfgs_direction().update(g, lbfgs_direction().init(jnp.zeros(2)), jnp.zeros(2))
        np.testing.assert_allclose(updates, -g / 5.0)  # first step: identity capped to length 1


def test_custom_law_and_loss():
    """A user's law (autodiff Jacobian) with the squared loss: optax-lbfgs recovers the truth."""
    law = Law("my_law", ("N",), ("a", "e", "alpha"), ("A", "E", "alpha"),
              lambda t, x: jnp.logaddexp(t[0] - t[2] * x[:, 0], t[1]), (True, True, False),
              grid=lambda: np.zeros((1, 3)))
    log_x = np.log(np.logspace(7, 10, 25))[:, None]
    truth = np.array([np.log(100.0), np.log(2.0), 0.25])
    log_y = np.logaddexp(truth[0] - truth[2] * log_x[:, 0], truth[1])
    out = run_tasks(SOLVERS["optax-lbfgs"](), law, squared(), log_x, log_y, np.ones(25),
                    (truth + [0.1, -0.05, 0.01])[None], n_lanes=1)
    assert out.converged[0]
    np.testing.assert_allclose(out.theta[0], truth, rtol=1e-6)
