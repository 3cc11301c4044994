"""Backtests: the real Director against the paper simulator on a simulated clock.

`runner.run_backtest` runs one or more brains over the same seeded market path; `metrics` turns
what happened into comparable numbers; `report` prints, saves and plots them; `replay` lets the
Claude brain be backtested twice with no second API spend.
"""

# The brains a backtest can run; the baselines live in baselines.py.
BRAINS = ("rules", "naive", "naive-once", "none", "claude")
