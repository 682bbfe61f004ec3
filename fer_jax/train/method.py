"""What a method (MI-FER, STT, AU, IFER) gives the shared trainer.

The trainer owns the loop, the mesh, data hand-off, checkpoints, summaries and evaluation
scheduling. A method owns its model, losses and ONE train step. The step is traced once inside
``nnx.jit`` by the trainer and mutates the NNX state object in place (parameters, optimizer
states, EMA buffers), which is what makes alternating optimizers inside one jitted step natural.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import ml_collections
from flax import nnx

Batch = dict[str, jax.Array]


def config_get(config: ml_collections.ConfigDict, dotted: str, default: Any) -> Any:
    """``config.a.b`` for ``dotted = "a.b"``, or ``default`` where any part is missing (methods give
    every field a default, so a config written for another method or version still builds)."""
    node: Any = config
    for part in dotted.split("."):
        if node is None or part not in node:
            return default
        node = node[part]
    return node

Metrics = dict[str, jax.Array]


class Method(Protocol):
    name: str

    def create(self, config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> nnx.Module:
        """Build the training state: model(s), optimizer(s), buffers, all as one NNX graph."""

    def train_step(self, state: nnx.Module, batch: Batch, step: jax.Array) -> Metrics:
        """One update, in place on ``state``. Returns scalar metrics (losses, accuracies)."""

    def eval_step(self, state: nnx.Module, batch: Batch) -> dict[str, Any]:
        """Per-example outputs for evaluation: at least ``logits`` and ``features`` [B, D]."""

    def predictor(self, state: nnx.Module) -> nnx.Module:
        """The inference-time module (what ``predict``/``export`` keep; e.g. residual-only for MI-FER)."""
