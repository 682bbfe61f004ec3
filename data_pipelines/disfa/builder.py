"""DISFA: spontaneous AU intensity (0-5) of 12 AUs, 27 subjects, one long video each."""

from __future__ import annotations

import glob
import os

import numpy as np

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.folds import split_by_fold
from data_pipelines.common.sources import SYNTH_AUS, ClipSource


def read_au_file(path: str) -> dict[int, float]:
    """``frame,intensity`` lines (DISFA and FERA 2015 both use this form) -> {frame: intensity}."""
    out = {}
    for line in open(path):
        parts = line.replace(",", " ").split()
        if len(parts) >= 2:
            out[int(float(parts[0]))] = float(parts[1])
    if not out:
        raise ValueError("no 'frame,intensity' line")
    return out


class Disfa(FerBuilder):
    """DISFA left-camera videos with per-frame intensities of AUs 1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26."""

    name = "disfa"
    LABELS = ("none",)  # AU dataset: no expression class; every clip has label 0
    AUS = SYNTH_AUS
    N_FOLDS = 3
    WINDOW = 48  # frames per clip (4 GOPs of 12 = 2.4 s at 20 fps); the recordings are ~4,845 frames long
    REQUIRED = ("Videos_LeftCamera", "ActionUnit_Labels")
    PROTOCOL = ("Videos_LeftCamera/LeftVideo<SN>_Comp.avi with ActionUnit_Labels/<SN>/<SN>_au<k>.txt "
                "('frame,intensity', 1-based frames). Each video is cut into consecutive 48-frame clips "
                "(choice: a whole recording is too long for one example); au_intensity [T, 12] per frame in "
                "DISFA AU order. 3 subject-independent folds by subject (sorted, round-robin): fold0..fold2.")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request DISFA at http://mohammadmahoor.com/disfa/ and extract it so that manual_dir holds
      Videos_LeftCamera/LeftVideoSN001_Comp.avi ... and ActionUnit_Labels/SN001/SN001_au1.txt ...
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        sources = []
        for video in sorted(glob.glob(os.path.join(root, "Videos_LeftCamera", "LeftVideo*.avi"))):
            subject = os.path.basename(video)[len("LeftVideo"):].split("_")[0]
            try:
                au = self._au_matrix(os.path.join(root, "ActionUnit_Labels", subject), subject)
            except (OSError, ValueError) as e:
                self.skip(video, f"AU labels unusable ({e})")
                continue
            sources.append(ClipSource(clip_id=subject, subject=subject, label=0, video=video, fps=20.0,
                                      au_intensity=au, window=self.WINDOW))
        return split_by_fold(sources, lambda s: s.subject, self.N_FOLDS)

    def _au_matrix(self, folder: str, subject: str) -> np.ndarray:
        per_au = [read_au_file(os.path.join(folder, f"{subject}_au{k}.txt")) for k in self.AUS]
        n = max(max(d) for d in per_au)
        au = np.zeros((n, len(self.AUS)), np.float32)
        for j, d in enumerate(per_au):
            for frame, value in d.items():
                au[frame - 1, j] = value
        return au
