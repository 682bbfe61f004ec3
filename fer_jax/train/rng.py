"""The one rule for randomness inside a train step (dropout, augmentation, noise, negatives).

A step draws every random number from ``step_key(seed, step, stream)``:
``fold_in(fold_in(key(seed), crc32(stream)), step)``. Nothing random is carried from one step to the
next, so:

* exact resume: the key of step t depends on (seed, t) alone, not on how many steps ran before it
  in this process;
* 1 device = 8 devices = N processes: the key is a replicated scalar and ``jax.jit`` computes with
  global arrays, so a draw of shape [global batch, ...] is the same whatever the mesh;
* independent streams: ``"dropout"``, ``"augment"``, ``"negatives"`` never share a key.

``step_rngs`` wraps keys as an ``nnx.Rngs`` for modules that take one (``nnx.Dropout``). The
``nnx.Rngs`` given to ``Method.create`` is for initialisation only; a step must not draw from it.
"""

from __future__ import annotations

import zlib

import jax
from flax import nnx


def stream_id(stream: str) -> int:
    """A stable 31-bit id of a stream name (crc32: the same in every process and Python version)."""
    return zlib.crc32(stream.encode()) & 0x7FFFFFFF


def step_key(seed: int | jax.Array, step: jax.Array | int, stream: str) -> jax.Array:
    """The typed PRNG key of ``stream`` at update ``step`` (0-based) of a run seeded ``seed``."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), stream_id(stream)), step)


def step_rngs(seed: int, step: jax.Array | int, *streams: str) -> nnx.Rngs:
    """``nnx.Rngs`` whose streams are ``step_key(seed, step, name)`` for each name."""
    return nnx.Rngs(**{name: step_key(seed, step, name) for name in streams})
