"""IFER's inversion stage on your own faces (an FFHQ-style folder of aligned face images).

The folder is read into memory by the runner, which trains this config from an ``ArrayIterator``:

    python benchmarks/ifer/stills_run.py inversion --folder FACES --workdir /runs/ifer_inv \\
        --config configs/ifer/faces_inversion.py:decoder=/runs/sg,identity=/runs/id_enc

Every image is centre-cropped to a square and resized to ``decoder.size``; a tenth of the files (by sorted
name) is held out for the reconstruction evaluation.
"""

from configs.ifer.common import inversion_config


def get_config(arg=None):
    return inversion_config(arg, "faces_folder", image_key="image")
