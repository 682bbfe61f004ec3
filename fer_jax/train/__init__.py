"""The shared trainer: one loop, checkpointing and logging for every method (see ``trainer.py``)."""
