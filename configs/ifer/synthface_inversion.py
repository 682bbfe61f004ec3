"""IFER's inversion stage on SynthFace stills (the embedded default): the apex frames of a SynthFace build.

    fer-jax train --config=configs/ifer/synthface_inversion.py:decoder=/runs/sg,identity=/runs/id_enc,data_dir=DATA \\
        --workdir /runs/ifer_inv

``decoder=`` is a ``stylegan2`` workdir (``configs/stylegan2/synthface.py``) or a ``fer-jax convert-stylegan2``
directory; ``identity=`` an identity encoder pre-trained on SynthFace's identity pool
(``fer_jax.identity.pretrain``). The README's CPU run renders the stills in memory instead
(``python benchmarks/ifer/stills_run.py``).
"""

from configs.ifer.common import inversion_config


def get_config(arg=None):
    return inversion_config(arg, "synthface", image_key="apex_frame")
