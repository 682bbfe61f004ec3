"""Contact sheet: identities (rows) x expressions (columns) at the apex frame."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from data_pipelines.atomic import atomic_path
from data_pipelines.synthface.clip import render_clip
from data_pipelines.synthface.facs import EXPRESSIONS
from data_pipelines.synthface.identity import sample_identities


def contact_sheet(identities: int = 6, regime: str = "lab", size: int = 112, frames: int = 32,
                  seed: int = 0) -> np.ndarray:
    """uint8 image [rows * S + header, 7 * S, 3] of apex frames (header row names the classes)."""
    header = 18
    sheet = np.full((header + identities * size, len(EXPRESSIONS) * size, 3), 255, np.uint8)
    for r, idt in enumerate(sample_identities(identities, seed)):
        for c in range(len(EXPRESSIONS)):
            clip, labels = render_clip(idt, c, regime, frames, size, seed)
            sheet[header + r * size: header + (r + 1) * size, c * size:(c + 1) * size] = \
                clip[labels["apex_index"]]
    from PIL import Image, ImageDraw

    img = Image.fromarray(sheet)
    draw = ImageDraw.Draw(img)
    for c, name in enumerate(EXPRESSIONS):
        draw.text((c * size + 4, 3), name, fill=(0, 0, 0))
    return np.asarray(img)


def write_contact_sheet(path: str | os.PathLike, **kwargs) -> Path:
    """Render :func:`contact_sheet` and save it as PNG atomically."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(contact_sheet(**kwargs)).save(tmp, format="PNG")
    return path
