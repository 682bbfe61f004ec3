"""CK+ (Extended Cohn-Kanade): posed sequences from a neutral onset to the expression apex."""

from __future__ import annotations

import glob
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.face_crop_builder import FaceCropBuilder, face_protocol
from data_pipelines.common.folds import split_by_fold
from data_pipelines.common.sources import ClipSource


class CkPlus(FaceCropBuilder, FerBuilder):
    """CK+: 593 sequences of 123 subjects, 327 with a validated emotion label (7 classes)."""

    name = "ckplus"
    LABELS = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")  # CK+ codes 1..7
    N_FOLDS = 10
    REQUIRED = ("cohn-kanade-images", "Emotion")
    PROTOCOL = ("Sequences with an Emotion/*_emotion.txt file (codes 1-7; 0=neutral is never used as a "
                "sequence label). Each sequence is one clip, onset (neutral) to apex; apex_index = last "
                "frame. 10 subject-independent folds by subject id (sorted, round-robin): splits fold0..fold9;"
                " read fold k as train@foldk / test@foldk.") + face_protocol(FaceCropBuilder.FACE_CROP)
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request CK+ at https://www.jeffcohn.net/Resources/ (Extended Cohn-Kanade dataset) and extract
    extended-cohn-kanade-images.zip and Emotion_labels.zip so that manual_dir holds:
      cohn-kanade-images/S005/001/S005_001_00000001.png ...
      Emotion/S005/001/S005_001_00000011_emotion.txt
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        sources = []
        for label_file in sorted(glob.glob(os.path.join(root, "Emotion", "*", "*", "*_emotion.txt"))):
            subject, seq = label_file.split(os.sep)[-3:-1]
            try:
                code = int(float(open(label_file).read().split()[0]))
                if not 1 <= code <= 7:
                    raise ValueError(f"emotion code {code} outside 1..7")
            except (ValueError, IndexError) as e:
                self.skip(label_file, f"unreadable emotion label ({e})")
                continue
            frames = sorted(glob.glob(os.path.join(root, "cohn-kanade-images", subject, seq, "*.png")))
            if not frames:
                self.skip(label_file, f"no frames under cohn-kanade-images/{subject}/{seq}")
                continue
            sources.append(ClipSource(clip_id=f"{subject}_{seq}", subject=subject, label=code - 1,
                                      frames=tuple(frames), fps=30.0, apex_index=len(frames) - 1))
        return split_by_fold(sources, lambda s: s.subject, self.N_FOLDS)
