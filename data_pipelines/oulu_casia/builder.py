"""Oulu-CASIA NIR&VIS: six posed expressions, onset to apex, 80 subjects."""

from __future__ import annotations

import glob
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.face_crop_builder import FaceCropBuilder, face_protocol
from data_pipelines.common.folds import split_by_fold
from data_pipelines.common.sources import ClipSource


class OuluCasia(FaceCropBuilder, FerBuilder):
    """Oulu-CASIA: 480 sequences (80 subjects x 6 expressions) of the visible-light, strong-illumination set."""

    name = "oulu_casia"
    LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    FOLDERS = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
    CAMERA, LIGHTING = "VL", "Strong"  # the standard choice in the FER literature
    N_FOLDS = 10
    REQUIRED = ("OriginalImg/VL/Strong",)
    PROTOCOL = ("OriginalImg/VL/Strong/<subject>/<Expression>/*.jpeg, one clip per sequence (neutral "
                "onset to apex; apex_index = last frame). 10 subject-independent folds by subject id "
                "(sorted, round-robin): splits fold0..fold9.") + face_protocol(FaceCropBuilder.FACE_CROP)
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request Oulu-CASIA NIR&VIS from the University of Oulu (CMVS) and extract it so that manual_dir holds
      OriginalImg/VL/Strong/P001/Anger/000.jpeg ...
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        base = os.path.join(root, "OriginalImg", self.CAMERA, self.LIGHTING)
        sources = []
        for subject in sorted(os.listdir(base)):
            for label, folder in enumerate(self.FOLDERS):
                seq = os.path.join(base, subject, folder)
                if not os.path.isdir(seq):
                    continue
                frames = sorted(f for f in glob.glob(os.path.join(seq, "*"))
                                if f.lower().endswith((".jpeg", ".jpg", ".png")))
                if not frames:
                    self.skip(seq, "sequence folder holds no image")
                    continue
                sources.append(ClipSource(clip_id=f"{subject}_{folder}", subject=subject, label=label,
                                          frames=tuple(frames), fps=25.0, apex_index=len(frames) - 1))
        return split_by_fold(sources, lambda s: s.subject, self.N_FOLDS)
