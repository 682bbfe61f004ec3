"""IFER's FER stage on SynthFace: the apex frames of a SynthFace build (held-out identities in ``val``).

    fer-jax build synthface --size 256 ... ; fer-jax train --config=configs/ifer/synthface_fer.py:inversion=/runs/inv

The README's CPU experiment renders the stills in memory instead (``python benchmarks/ifer/stills_run.py``).
"""

from configs.ifer.common import fer_config
from data_pipelines.synthface.facs import EXPRESSIONS


def get_config(arg=None):
    return fer_config(arg, "synthface", EXPRESSIONS, image_key="apex_frame", split_val="val")
