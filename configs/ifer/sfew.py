"""IFER's FER stage on SFEW 2.0 (7 classes; evaluated on the official Val split).

    fer-jax train --config=configs/ifer/sfew.py:inversion=/runs/ifer_inv,data_dir=DATA --workdir /runs/ifer_sfew
"""

from configs.ifer.common import fer_config
from data_pipelines.sfew import Sfew


def get_config(arg=None):
    return fer_config(arg, "sfew", Sfew.LABELS, image_key="image", split_val="val", train_images=958)  # SFEW 2.0 Train
