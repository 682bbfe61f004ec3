"""IFER's FER stage on RAF-DB (basic, 7 classes). The checkpoint is chosen on ``val``, the tenth of the official
training images the builder carves out (seeded, listed in the build's metadata); the official test split is
evaluated once, at the end (``evals.test``).

    fer-jax build rafdb --manual-dir RAF --data-dir DATA --size 256
    fer-jax train --config=configs/ifer/rafdb.py:inversion=/runs/ifer_inv,data_dir=DATA --workdir /runs/ifer_raf

Variants: ``configs/ifer/common.py`` (``tiny``, ``random``, ``linear``, ``scratch``, ``frozen``, ``seed=``, ...).
"""

from configs.ifer.common import fer_config
from data_pipelines.rafdb import RafDb


def get_config(arg=None):
    # 12 271 official training images less the carved tenth: 87 steps an epoch at batch 128
    c = fer_config(arg, "rafdb", RafDb.LABELS, image_key="image", split_val="val", train_images=11_044)
    if c.input.dataset != "random":  # the official test split once, at the last step
        c.evals = {"val": dict(split="val"), "test": dict(split="test", every=10**9)}
    return c
