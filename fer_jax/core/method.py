"""What a method (MI-FER, STT, AU, IFER) gives the shared trainer, evaluation and serving.

The trainer owns the loop, the mesh, data hand-off, checkpoints, summaries and evaluation
scheduling. A method owns its model, losses and ONE train step. The step is traced once inside
``jax.jit`` by the trainer and mutates the NNX state object in place (parameters, optimizer
states, EMA buffers), which is what makes alternating optimizers inside one jitted step natural.

Besides the step, a method declares (defaults in :class:`MethodBase`):

* ``settings``: the config sections it reads, each with the dataclass that holds their defaults
  (``fer_jax.core.settings``); an unknown key in any of them is an error before anything is built.
  The config is parsed once (``fer_jax.core.settings.parse``) and every hook below receives the
  result, a :class:`RunSettings` (``run.train.seed``, ``run.input.size``, ``run.sections["mi"]``):
  a method never reads the raw config nor rebuilds a section.
* ``input_spec(run)``: the batch keys its step and eval step read (:class:`Feature`: shape without
  the batch axis, dtype, role). The ``random`` dataset builds batches from it; the data path is asked
  only for the feature groups named there.
* ``evaluators``: what evaluation computes by default from ``eval_step``'s per-example outputs
  (``fer_jax.evaluate.evaluators``; a config's ``evals`` can choose others).
* ``serving_spec(run)`` and ``serve(predictor, inputs)``: what ``predict`` and ``export`` feed the
  inference-time module and what comes out (class probabilities, regression values, embeddings).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Protocol

import jax
from flax import nnx

from fer_jax.core.settings import RunSettings

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]

# Roles of a batch feature: what the ``random`` dataset puts in it, and which group of the data path
# provides it.
ROLES = ("signal", "identity_signal", "label", "identity", "embedding", "target", "target_mask", "weight",
         "index")


@dataclasses.dataclass(frozen=True)
class Feature:
    """One batch key: per-example ``shape`` (no batch axis), ``dtype`` and ``role``.

    ``role``: ``signal`` (carries the class/target: residuals, frames, images), ``identity_signal``
    (carries the identity: I-frames), ``label`` (int class), ``identity`` (int subject), ``embedding``
    (a unit vector per identity), ``target`` (regression values, e.g. AU intensities), ``target_mask``
    (1 where a target is labelled), ``weight`` (per-example 0/1, e.g. ``has_apex``), ``index`` (int
    positions: ``clip_key`` of the clip, ``frame_index`` of each frame).
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    role: str = "signal"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown feature role {self.role!r}; known: {ROLES}")


@dataclasses.dataclass(frozen=True)
class ServingSpec:
    """What the inference-time module takes and gives, for ``predict`` and ``export``.

    ``inputs``: name -> :class:`Feature` of one example (``export`` adds a symbolic batch axis).
    ``input_group``: how ``predict`` turns a raw file into ``inputs``: ``compressed`` (residuals and
    motion vectors of the canonical MPEG-4 stream), ``frames`` (decoded RGB frames) or ``image``.
    ``output``: ``probabilities`` (softmax over ``output_names``), ``values`` (regression, one per
    name) or ``embedding``. ``preprocessing``: size, segments, GOP, ... as the data path used them.
    """

    inputs: Mapping[str, Feature]
    input_group: str
    output: str
    output_names: tuple[str, ...] = ()
    preprocessing: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.input_group not in ("compressed", "frames", "image"):
            raise ValueError(f"unknown input_group {self.input_group!r}")
        if self.output not in ("probabilities", "values", "embedding"):
            raise ValueError(f"unknown output kind {self.output!r}")


class Method(Protocol):
    name: str
    settings: Mapping[str, type]
    evaluators: tuple[str, ...]

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> nnx.Module:
        """Build the training state: model(s), optimizer(s), buffers, all as one NNX graph."""

    def train_step(self, state: nnx.Module, batch: Batch, step: jax.Array) -> Metrics:
        """One update, in place on ``state``. Returns scalar metrics (losses, accuracies)."""

    def eval_step(self, state: nnx.Module, batch: Batch) -> dict[str, Any]:
        """Per-example outputs for the evaluators (e.g. ``logits``, ``features``, ``predictions``)."""

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        """The batch keys the steps read, per example."""

    def predictor(self, state: nnx.Module) -> nnx.Module:
        """The inference-time module (what ``predict``/``export`` keep; e.g. residual-only for MI-FER)."""

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        """The predictor's inputs and outputs (see :class:`ServingSpec`)."""

    def serve(self, predictor: nnx.Module, inputs: Batch) -> jax.Array:
        """``inputs`` (batched, as in ``serving_spec``) -> the outputs ``serving_spec`` names."""


class MethodBase:
    """Defaults for the optional parts of :class:`Method`; a method overrides what it has."""

    name: ClassVar[str] = ""
    settings: ClassVar[Mapping[str, type]] = {}
    evaluators: ClassVar[tuple[str, ...]] = ("classification",)

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        raise NotImplementedError(f"method {self.name!r} declares no input_spec")

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        raise NotImplementedError(f"method {self.name!r} declares no serving_spec: it cannot be served")

    def serve(self, predictor: nnx.Module, inputs: Batch) -> jax.Array:
        raise NotImplementedError(f"method {self.name!r} cannot be served")

    def on_start(self, run: RunSettings, workdir: str) -> None:
        """Called once on process 0 when a new run starts in ``workdir`` (not on resume): a method
        records there what its config alone does not say (e.g. the AU method's chosen label frames)."""
