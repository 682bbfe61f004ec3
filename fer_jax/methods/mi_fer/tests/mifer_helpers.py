"""Shared helpers of the MI-FER tests (and of the serving tests that need an MI-FER workdir): a tiny config,
a random batch of the input contract, and the smallest servable config."""

import ml_collections
import numpy as np

B, K, S, D = 4, 2, 16, 12


def make_config(**over) -> ml_collections.ConfigDict:
    """A tiny, fully stated MI-FER config (the tests' numbers do not depend on the dataclass defaults);
    ``over`` sets dotted keys, e.g. ``make_config(**{"mi.penalty": "refit"})``."""
    cfg = ml_collections.ConfigDict(
        dict(
            seed=0,
            num_classes=7,
            total_steps=100,
            model=dict(encoder="tiny", width=8, stem="small", feature_dim=16, use_mv=False, mv_encoder="tiny",
                       mv_width=None, dtype="float32"),
            mi=dict(weight=0.5, start_step=2, warmup_steps=2, estimator="club", estimator_steps=2, hidden=32,
                    identity_dim=D, penalty="club", refit_ridge=0.1, refit_memory=0,
                    optim=dict(name="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", warmup_steps=0,
                               grad_clip=0.0)),
            apex=dict(enabled=False, weight=1.0),
            optim=dict(name="adamw", lr=1e-2, weight_decay=0.0, schedule="constant", warmup_steps=0, grad_clip=0.0),
        )
    )
    for key, value in over.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg


def hparams(**mi):
    """The step's static settings of :func:`make_config`, with ``mi`` fields overridden."""
    from fer_jax.core.registry import get_method
    from fer_jax.core.settings import parse
    from fer_jax.methods.mi_fer.method import Hparams

    run = parse(make_config(**{f"mi.{k}": v for k, v in mi.items()}), get_method("mi_fer"))
    return Hparams(run.mi, run.apex, run.train.seed)


def make_batch(seed: int = 0, b: int = B, s: int = S) -> dict:
    r = np.random.default_rng(seed)
    return dict(
        residuals=r.normal(0, 0.1, size=(b, K, s, s, 3)).astype(np.float32),
        motion_vectors=r.normal(0, 2, size=(b, K, s // 4, s // 4, 2)).astype(np.float32),
        identity_embedding=r.normal(size=(b, D)).astype(np.float32),
        label=(np.arange(b) % 7).astype(np.int32),
        apex_frame=r.random((b, s, s, 3), dtype=np.float32),
        has_apex=np.ones(b, np.float32),
        mask=np.ones(b, np.float32),
    )


def serving_config() -> ml_collections.ConfigDict:
    """``configs/mi_fer/synthface.py:tiny,random`` at 16 px, 2 segments, 2 steps, no apex, the game from step 0:
    a workdir to serve (``predict``) in seconds."""
    from configs.mi_fer import synthface

    c = synthface.get_config("tiny,random")
    c.total_steps, c.eval_every, c.ckpt_every, c.log_every = 2, 2, 2, 1
    c.progress_bar = c.tensorboard = False
    c.apex.enabled, c.mi.start_step, c.mi.warmup_steps = False, 0, 0
    c.input.size, c.input.segments = 16, 2
    c.input.random.num_train, c.input.random.num_val = 16, 16
    return c
