"""Code shared by every fer-jax TFDS builder: feature spec, clip -> example, folds, manual-dir checks.

``sources``, ``folds`` and ``manual`` import neither TensorFlow nor TFDS, so generation workers
(separate processes) stay light; ``features`` and ``builder`` import TFDS; ``registry`` maps dataset
names to builder classes.
"""
