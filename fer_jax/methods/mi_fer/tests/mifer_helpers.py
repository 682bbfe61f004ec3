"""Shared helpers of the MI-FER tests: a tiny config and a random batch of the input contract."""

import ml_collections
import numpy as np

B, K, S, D = 4, 2, 16, 12


def make_config(**over) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(
        dict(
            num_classes=7,
            total_steps=100,
            model=dict(encoder="tiny", width=8, stem="small", feature_dim=16, use_mv=False, dtype="float32"),
            mi=dict(weight=0.5, start_step=2, warmup_steps=2, estimator="club", estimator_steps=2, hidden=32, identity_dim=D),
            apex=dict(enabled=False, weight=1.0),
            optim=dict(name="adamw", lr=1e-2, schedule="constant"),
        )
    )
    for key, value in over.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg


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
