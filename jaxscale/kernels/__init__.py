"""Pure maths: laws, losses and lane solvers (no pandas, no Python control flow over data)."""
