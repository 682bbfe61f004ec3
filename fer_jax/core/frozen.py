"""Frozen sub-modules: networks a method uses but never trains (a face-recognition teacher, LPIPS,
a pretrained StyleGAN2 generator).

Their variables are of type :class:`Frozen`, not ``nnx.Param``: optimizers built ``wrt=nnx.Param`` do
not see them, ``jax.grad`` over ``nnx.Param`` does not differentiate them, and the checkpoints leave
them out (``fer_jax.core.checkpointing``): they are loaded when the state is built (from the weights
a package ships, or by ``init_from``) and never written again, so a run with a 100 MB frozen
generator saves only what it trains.
"""

from __future__ import annotations

from flax import nnx


class Frozen(nnx.Variable):
    """A variable of a frozen sub-module: never optimized, never checkpointed."""


def freeze(module: nnx.Module) -> nnx.Module:
    """Turn every variable of ``module`` (parameters and batch statistics; not RNG state) into
    :class:`Frozen`, in place; returns ``module``."""
    for path, node in list(nnx.iter_graph(module)):
        if not isinstance(node, nnx.Variable) or isinstance(node, (Frozen, nnx.RngState)):
            continue
        parent = module
        for part in path[:-1]:
            parent = parent[part] if isinstance(parent, (nnx.List, nnx.Dict)) else getattr(parent, part)
        frozen = Frozen(node.get_value())
        if isinstance(parent, (nnx.List, nnx.Dict)):
            parent[path[-1]] = frozen
        else:
            setattr(parent, path[-1], frozen)
    return module
