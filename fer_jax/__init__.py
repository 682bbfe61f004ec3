"""fer-jax: JAX/Flax reimplementations of four facial-expression recognition systems.

MI-FER (compressed-video FER with identity removed by a min-min mutual-information game), STT
(spatio-temporal transformer), semi-supervised AU intensity (contrastive pre-training), and IFER
(inversion transformer). One trainer, one data path, one checkpoint layout serve all four.
"""

__version__ = "0.1.0"
