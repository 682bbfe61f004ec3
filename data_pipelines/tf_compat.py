"""The one place that imports TensorFlow: tf.data must never grab an accelerator JAX needs."""

from __future__ import annotations

import functools
import os


@functools.cache
def import_tf():
    """Import TensorFlow with every GPU/TPU hidden from it; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    try:
        tf.config.set_visible_devices([], "TPU")
    except (ValueError, RuntimeError):  # no TPU platform registered in this build
        pass
    return tf


@functools.cache
def import_tfds():
    import_tf()
    import tensorflow_datasets as tfds

    return tfds
