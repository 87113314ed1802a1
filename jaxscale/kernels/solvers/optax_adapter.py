r"""Any ``optax.GradientTransformation`` as a lane solver of the task queue.

The transformation maps the gradient :math:`g_k` at the current iterate :math:`\theta_k` to an
update :math:`u_k` (``updates, opt_state = tx.update(g_k, opt_state, theta_k, ...)``). Two ways to
turn :math:`u_k` into the next iterate, both with ONE objective evaluation per
:meth:`OptaxSolver.step`, so lanes advance in lock-step and refill like every other solver:

- ``linesearch="none"`` (optax's own loop): :math:`\theta_{k+1} = \theta_k + u_k`. Right for
  first-order methods with a learning rate (``optax.adam(1e-2)``, ``optax.sgd``). The iterates need
  not lower ``f`` at every step; the lane reports its last iterate.
- ``linesearch="backtracking"``: :math:`u_k` is a search *direction* :math:`d_k` (for L-BFGS,
  ``optax.chain(optax.scale_by_lbfgs(), optax.scale(-1.0))``, see :func:`lbfgs_direction`). Each
  step evaluates one trial :math:`\theta_k + t d_k`; it is accepted when
  :math:`f(\theta_k + t d_k) \le f(\theta_k) + c_1 t\, g_k^\top d_k` (Armijo), else ``t`` shrinks by
  safeguarded quadratic interpolation (:func:`~.common.armijo_backtrack`, shared with
  :class:`~.bfgs.BFGS`). The transformation's state advances on accepted points only, so the
  L-BFGS memory holds pairs :math:`(s, y)` between accepted iterates. A :math:`d_k` that is not a
  descent direction (:math:`g_k^\top d_k \ge 0`) is replaced by :math:`-g_k` and the
  transformation's state restarts there.

Transformations that take extra arguments (:class:`optax.GradientTransformationExtraArgs`, e.g.
``optax.lbfgs()`` with its zoom line search) receive ``value=f(θ_k)``, ``grad=g_k`` and
``value_fn=f`` as optax documents. Their line search then evaluates ``f`` (and ``g``) inside its own
nested loop: ``1 + num_linesearch_steps`` evaluations per step, all counted in ``iterations``, and
under ``vmap`` every lane waits for the slowest line search of the pool at every step. That path
works but is the slow one the lane queue exists to avoid; prefer ``"optax-lbfgs"`` (one
evaluation per step).

The solver is a static argument of the jitted queue, so it must hash and compare by value:
:func:`describe` writes the transformation as a stable text (function names, closure values,
hyper-parameters), so ``OptaxSolver(optax.adam(1e-2)) == OptaxSolver(optax.adam(1e-2))`` and both
share one compilation.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .base import LaneSolver
from .common import RUNNING, armijo_backtrack, converged_on_change, finite_trial
from .objective import evaluate, objective_value

_LINESEARCHES = ("none", "backtracking")


class OptaxState(NamedTuple):
    """One lane of an optax transformation: the accepted iterate, the transformation's state there, and the
    next trial ``theta + step_size * direction``."""

    theta: jnp.ndarray  # accepted iterate (p,)
    value: jnp.ndarray  # f there (inf before the first evaluation)
    grad: jnp.ndarray  # (p,)
    opt_state: Any  # the transformation's state at theta
    direction: jnp.ndarray  # next trial = theta + step_size * direction
    step_size: jnp.ndarray
    iterations: jnp.ndarray  # objective evaluations so far (line-search evaluations included)
    status: jnp.ndarray


def lbfgs_direction(memory_size: int = 10, scale_init_precond: bool = True):
    r"""``optax.scale_by_lbfgs`` followed by a sign flip: the L-BFGS descent direction
    :math:`d_k = -P_k g_k` (optax's two-loop recursion; :math:`P_0` is the identity capped to a
    step of length 1, as in ``optax.lbfgs``), without optax's nested line search."""
    import optax

    return optax.chain(optax.scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
                       optax.scale(-1.0))


def describe(obj: Any, _depth: int = 0) -> str:
    """A stable text for a transformation, a factory of one, or a hyper-parameter.

    Functions are written as ``module.qualname`` plus the values their closures capture (and
    their defaults), so two transformations built by the same code with equal hyper-parameters
    get the same text and different hyper-parameters a different text. Objects it cannot read
    (anything else) are written with their identity, which is never equal to another object's:
    the worst case is a recompilation, never two different solvers sharing one.
    """
    if _depth > 24:
        return f"<{type(obj).__qualname__}@{id(obj):x}>"
    deeper = functools.partial(describe, _depth=_depth + 1)
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return repr(obj)
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        arr = np.asarray(obj)
        return f"array{arr.shape}{arr.dtype}:{hashlib.sha256(arr.tobytes()).hexdigest()[:16]}"
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple (a GradientTransformation)
        return type(obj).__qualname__ + "(" + ", ".join(f"{k}={deeper(v)}" for k, v in zip(obj._fields, obj)) + ")"
    if isinstance(obj, (tuple, list)):
        return "(" + ", ".join(map(deeper, obj)) + ")"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{deeper(k)}: {deeper(v)}" for k, v in sorted(obj.items(), key=repr)) + "}"
    if isinstance(obj, functools.partial):
        args = [deeper(a) for a in obj.args] + [f"{k}={deeper(v)}" for k, v in sorted(obj.keywords.items())]
        return f"{deeper(obj.func)}({', '.join(args)})"
    if inspect.ismethod(obj):
        return f"{deeper(obj.__self__)}.{obj.__func__.__name__}"
    if inspect.isfunction(obj):
        text = f"{obj.__module__}.{obj.__qualname__}"
        extras = [_cell(c, obj, deeper) for c in (obj.__closure__ or ())]
        if obj.__defaults__:
            extras.append("defaults=" + deeper(obj.__defaults__))
        if obj.__kwdefaults__:
            extras.append("kwdefaults=" + deeper(obj.__kwdefaults__))
        return text + ("[" + ", ".join(extras) + "]" if extras else "")
    if inspect.isclass(obj) or inspect.isbuiltin(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"<{type(obj).__module__}.{type(obj).__qualname__}@{id(obj):x}>"


def _cell(cell, owner, write) -> str:
    try:
        value = cell.cell_contents
    except ValueError:  # a cell not filled yet
        return "<empty>"
    return "<self>" if value is owner else write(value)  # a recursive closure refers to itself


@dataclass(frozen=True, eq=False)
class OptaxSolver(LaneSolver):
    """Run an optax transformation as lanes of the task queue (see the module docstring).

    Parameters
    ----------
    transformation : optax.GradientTransformation or callable
        The transformation (``optax.adam(1e-2)``) or a zero-argument factory of one
        (``functools.partial(optax.adam, 1e-2)``, :func:`lbfgs_direction`).
    max_iter : int
        Objective evaluations per lane (line-search evaluations of an extra-args
        transformation included).
    gtol, ftol, xtol : float
        Stop when ``max |g| <= gtol``, or when a step changes ``f`` by at most ``ftol * |f|`` and
        moves every parameter by at most ``xtol * (1 + |theta|)`` (as the other solvers).
    linesearch : {"none", "backtracking"}
        ``"none"``: ``theta + u`` (optax's loop); ``"backtracking"``: ``u`` is a direction,
        searched with Armijo backtracking, one trial per step.
    armijo : float
        Sufficient-decrease constant :math:`c_1` of ``"backtracking"``.
    name : str
        Shown in results and recipes.
    """

    transformation: Any = field(default=None, repr=False)
    max_iter: int = 2000
    gtol: float = 1e-12
    ftol: float = 1e-10
    xtol: float = 1e-7
    linesearch: str = "none"
    armijo: float = 1e-4
    name: str = "optax"

    def __post_init__(self):
        try:
            import optax
        except ImportError:  # pragma: no cover - optax is a dependency today
            raise ImportError("OptaxSolver needs optax: pip install optax") from None
        tx = self.transformation
        if tx is None:
            raise ValueError("OptaxSolver needs a transformation, e.g. OptaxSolver(optax.adam(1e-2)) or "
                             "OptaxSolver(jaxscale.kernels.solvers.optax_adapter.lbfgs_direction, "
                             "linesearch='backtracking')")
        if not isinstance(tx, optax.GradientTransformation):
            if not callable(tx):
                raise ValueError(f"transformation must be an optax.GradientTransformation or a zero-argument "
                                 f"factory of one, got {type(tx).__name__}")
            tx = tx()
            if not isinstance(tx, optax.GradientTransformation):
                raise ValueError(f"the factory {describe(self.transformation)} returned {type(tx).__name__}, "
                                 "not an optax.GradientTransformation")
        if self.linesearch not in _LINESEARCHES:
            raise ValueError(f"linesearch must be one of {_LINESEARCHES}, got {self.linesearch!r}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        object.__setattr__(self, "_tx", optax.with_extra_args_support(tx))
        object.__setattr__(self, "_description", describe(self.transformation))

    # ------------------------------------------------------------------ value semantics (static jit arg)
    def _key(self) -> tuple:
        return (type(self), self._description, self.max_iter, self.gtol, self.ftol, self.xtol, self.linesearch,
                self.armijo, self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OptaxSolver) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def options(self) -> dict:
        """Settings for recipes, the transformation written by :func:`describe`."""
        return {"transformation": self._description, "max_iter": self.max_iter, "gtol": self.gtol,
                "ftol": self.ftol, "xtol": self.xtol, "linesearch": self.linesearch, "armijo": self.armijo}

    # ------------------------------------------------------------------ the lane
    def init(self, theta0: jnp.ndarray) -> OptaxState:
        """A lane at ``theta0`` with the transformation's own ``init(theta0)`` state, not yet evaluated."""
        p = theta0.shape[0]
        zero = jnp.zeros((), theta0.dtype)
        return OptaxState(theta0, jnp.full((), jnp.inf, theta0.dtype), jnp.zeros(p, theta0.dtype),
                          self._tx.init(theta0), jnp.zeros(p, theta0.dtype), zero, jnp.zeros((), jnp.int32),
                          jnp.full((), RUNNING, jnp.int32))

    def step(self, state: OptaxState, law, loss, log_x, log_y, weights) -> OptaxState:
        """Evaluate the trial point; accept it (with ``linesearch="backtracking"``: on Armijo's sufficient
        decrease, else halve the step), feed the gradient to the transformation's ``update`` for the next
        direction, and set the status with the shared stopping tests."""
        import optax

        trial = state.theta + state.step_size * state.direction
        ev = evaluate(law, loss, trial, log_x, log_y, weights)
        fresh = jnp.isinf(state.value)
        finite = finite_trial(ev, trial)
        slope = state.grad @ state.direction
        if self.linesearch == "backtracking":
            sufficient, shrunk, tiny = armijo_backtrack(state.value, ev.value, slope, state.step_size, self.armijo,
                                                        state.direction, state.theta)
            accept = finite & (fresh | sufficient)
        else:  # optax's loop: every finite iterate is taken, f may rise
            accept, shrunk = finite, state.step_size
            tiny = jnp.zeros((), bool)

        pick = lambda new, old: jax.tree.map(lambda n, o: jnp.where(accept, n, o), new, old)  # noqa: E731
        theta, value, grad = pick((trial, ev.value, ev.grad), (state.theta, state.value, state.grad))
        value_fn = lambda t: objective_value(law, loss, t, log_x, log_y, weights)  # noqa: E731
        updates, opt_state = self._tx.update(grad, state.opt_state, theta, value=value, grad=grad,
                                             value_fn=value_fn)
        # evaluations made by the transformation's own line search, if it has one
        extra = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps", 0)
        opt_state = pick(opt_state, state.opt_state)
        usable = jnp.all(jnp.isfinite(updates))
        if self.linesearch == "backtracking":
            not_descent = ~usable | (grad @ updates >= 0)
            direction = jnp.where(not_descent, -grad, updates)
            restart = jax.tree.map(lambda n, o: jnp.where(not_descent, n, o), self._tx.init(theta), opt_state)
            opt_state = pick(restart, opt_state)
            gnorm_now = jnp.max(jnp.abs(grad))
            first_step = jnp.minimum(1.0, 1.0 / jnp.maximum(gnorm_now, 1e-300))
            step_size = jnp.where(accept, jnp.where(not_descent, first_step, 1.0), shrunk)
            stalled = ~accept & tiny
        else:
            direction, step_size = updates, jnp.ones_like(state.step_size)
            # walked into a non-finite region (no line search to come back) or a non-finite update
            stalled = (~fresh & ~finite) | (accept & ~usable)
        direction = pick(direction, state.direction)

        iterations = state.iterations + 1 + jnp.where(accept, jnp.asarray(extra, jnp.int32), 0)
        moved = trial - state.theta
        done_change = ~fresh & accept & converged_on_change(jnp.abs(state.value - ev.value), ev.value, moved,
                                                            state.theta, self.ftol, self.xtol)
        gnorm = jnp.max(jnp.abs(grad))
        status = self.next_status(failed_start=fresh & ~finite, converged=(gnorm <= self.gtol) | done_change,
                                  stalled=stalled, iterations=iterations)
        return OptaxState(theta, value, grad, opt_state, direction, step_size, iterations, status)


def optax_lbfgs(**options) -> OptaxSolver:
    """``"optax-lbfgs"``: optax's L-BFGS direction (:func:`lbfgs_direction`) with the flattened
    Armijo backtracking, one evaluation per step."""
    return OptaxSolver(lbfgs_direction, **{"linesearch": "backtracking", "name": "optax-lbfgs", **options})

