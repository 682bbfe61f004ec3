"""The extracted clip container, its typed error, and atomic ``.npz`` storage.

Kept free of PyAV so that readers of extracted clips (TFDS builders, the input pipeline) only need numpy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Any

import numpy as np

from data_pipelines.atomic import atomic_path

_ARRAYS = ("iframes", "motion_vectors", "residuals", "frame_types", "pts")
FRAME_PAD, FRAME_I, FRAME_P = 0, 1, 2


class ExtractionError(ValueError):
    """An input that cannot be turned into a clip; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path or '<frames>'}: {reason}")


@dataclasses.dataclass
class CompressedClip:
    """One clip in the compressed domain; see the package docstring for units and sign conventions."""

    iframes: np.ndarray  # uint8 [G, S, S, 3]
    motion_vectors: np.ndarray  # float16 [G, P, S/4, S/4, 2]
    residuals: np.ndarray  # int16 [G, P, S, S, 3]
    frame_types: np.ndarray  # uint8 [G, gop]
    pts: np.ndarray  # int64 [G, gop]
    meta: dict[str, Any]

    @property
    def num_gops(self) -> int:
        return int(self.iframes.shape[0])

    @property
    def num_frames(self) -> int:
        """Real (non-padding) frames."""
        return int(np.count_nonzero(self.frame_types))

    def validate(self) -> None:
        """Raise ``ValueError`` when shapes or dtypes break the contract (a bug, not bad input)."""
        g, s = self.iframes.shape[0], self.iframes.shape[1]
        gop = self.frame_types.shape[1]
        expected = {
            "iframes": ((g, s, s, 3), np.uint8),
            "motion_vectors": ((g, gop - 1, s // 4, s // 4, 2), np.float16),
            "residuals": ((g, gop - 1, s, s, 3), np.int16),
            "frame_types": ((g, gop), np.uint8),
            "pts": ((g, gop), np.int64),
        }
        for name, (shape, dtype) in expected.items():
            arr = getattr(self, name)
            if arr.shape != shape or arr.dtype != dtype:
                raise ValueError(f"{name}: got {arr.dtype}{list(arr.shape)}, want {np.dtype(dtype)}{list(shape)}")


def save_clip(clip: CompressedClip, path: str | os.PathLike) -> None:
    """Write ``clip`` to ``path`` (.npz) atomically: a temp file in the same folder, then ``os.replace``.

    A crash mid-write leaves at most a ``.tmp-*`` file, never a partial ``.npz`` under the final name.
    Arrays are stored uncompressed: residuals are mostly small values but compressing costs more CPU than
    the extraction itself; disk is the cheaper resource here.
    """
    clip.validate()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        arrays = {k: getattr(clip, k) for k in _ARRAYS}
        meta = np.frombuffer(json.dumps(clip.meta, sort_keys=True).encode(), dtype=np.uint8)
        np.savez(f, meta_json=meta, **arrays)


def load_clip(path: str | os.PathLike) -> CompressedClip:
    """Read a clip written by :func:`save_clip`; a damaged file raises :class:`ExtractionError`."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as z:
            arrays = {k: z[k] for k in _ARRAYS}
            meta = json.loads(z["meta_json"].tobytes().decode())
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ExtractionError(path, f"not a readable clip file ({type(e).__name__}: {e})") from e
    clip = CompressedClip(meta=meta, **arrays)
    try:
        clip.validate()
    except ValueError as e:
        raise ExtractionError(path, f"clip arrays break the format: {e}") from e
    return clip
