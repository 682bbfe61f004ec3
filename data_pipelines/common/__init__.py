"""Code shared by every fer-jax TFDS builder: feature spec, clip -> example, folds, manual-dir checks.

``sources`` and ``folds`` import neither TensorFlow nor TFDS, so generation workers (separate
processes) stay light; ``features``, ``video_builder`` and ``image_builder`` import TFDS.
"""
