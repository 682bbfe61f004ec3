"""Evaluation: metrics, the identity audit, figures, and the split-wide runner behind `fer-jax eval`."""
