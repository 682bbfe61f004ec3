"""IFER's FER stage on AffectNet (manually annotated, 7 basic classes; evaluated on the official validation list).

    fer-jax train --config=configs/ifer/affectnet.py:inversion=/runs/ifer_inv,data_dir=DATA --workdir /runs/ifer_an
"""

from configs.ifer.common import fer_config
from data_pipelines.affectnet import AffectNet


def get_config(arg=None):
    c = fer_config(arg, "affectnet", AffectNet.LABELS, image_key="image", split_val="validation")
    c.total_steps = 60_000  # 280 k training images: three times RAF-DB's schedule at batch 8 is still < 2 epochs
    return c
