"""IFER's FER stage on RAF-DB (basic, 7 classes; evaluated on the official test split).

    fer-jax build rafdb --manual-dir RAF --data-dir DATA --size 256
    fer-jax train --config=configs/ifer/rafdb.py:inversion=/runs/ifer_inv,data_dir=DATA --workdir /runs/ifer_raf

Variants: ``configs/ifer/common.py`` (``tiny``, ``random``, ``linear``, ``scratch``, ``frozen``, ``seed=``, ...).
"""

from configs.ifer.common import fer_config
from data_pipelines.rafdb import RafDb


def get_config(arg=None):
    return fer_config(arg, "rafdb", RafDb.LABELS, image_key="image", split_val="test")
