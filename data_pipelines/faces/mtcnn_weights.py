"""Where MTCNN's weights are: ``facenet_pytorch/data/{pnet,rnet,onet}.pt`` of the installed ``facenet-pytorch``
wheel (MIT licence), found with the import system and never copied into this repository. Kept apart from
``faces.mtcnn`` so that choosing a detector (``FaceSettings``) imports neither JAX nor torch.
"""

from __future__ import annotations

import importlib.util
import os

PACKAGE = "facenet-pytorch"
INSTALL = f"pip install --no-deps {PACKAGE}"


class WeightsMissing(ImportError):
    """The MTCNN weights are not installed; the message names the package to install."""


def weights_dir() -> str:
    """``facenet_pytorch/data`` via the import system (the package itself needs torch to import)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsMissing(f"the MTCNN face detector reads its weights from the {PACKAGE!r} package: {INSTALL}")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "data")
    missing = [n for n in ("pnet.pt", "rnet.pt", "onet.pt") if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise WeightsMissing(f"{folder} lacks {', '.join(missing)}; reinstall the weights: {INSTALL}")
    return folder


def weights_installed() -> bool:
    try:
        weights_dir()
        return True
    except WeightsMissing:
        return False
