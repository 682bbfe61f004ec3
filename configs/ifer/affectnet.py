"""IFER's FER stage on AffectNet (manually annotated, 7 basic classes; evaluated on the official validation list).

    fer-jax train --config=configs/ifer/affectnet.py:inversion=/runs/ifer_inv,data_dir=DATA --workdir /runs/ifer_an
"""

from configs.ifer.common import fer_config
from data_pipelines.affectnet import AffectNet


def get_config(arg=None):
    # about 284 k manually annotated training faces of the 7 classes: the released 310 epochs are 688 k steps
    return fer_config(arg, "affectnet", AffectNet.LABELS, image_key="image", split_val="validation",
                      train_images=283_901)
