"""Evaluation: evaluators chosen by the method/config (``evaluators.py``), the split-wide runner and the
trainer's named evaluations (``runner.py``), fold tables (``tables.py``), metrics, the identity audit and
figures, behind ``fer-jax eval`` and ``fer-jax cv``."""
