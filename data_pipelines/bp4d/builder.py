"""BP4D (FERA 2015 intensity subset): spontaneous AU intensity of AUs 6, 10, 12, 14, 17."""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.folds import split_by_fold
from data_pipelines.common.sources import ClipSource
from data_pipelines.disfa.builder import read_au_file

UNKNOWN = 9  # FERA 2015's code for "intensity not coded"


class Bp4d(FerBuilder):
    """BP4D-Spontaneous as distributed for FERA 2015: frame folders per subject and task + AU intensity CSVs."""

    name = "bp4d"
    LABELS = ("none",)  # AU dataset: no expression class; every clip has label 0
    AUS = (6, 10, 12, 14, 17)
    N_FOLDS = 3
    WINDOW = 48
    REQUIRED = ("BP4D-training|BP4D", "AUCoding/AU_INT")
    PROTOCOL = ("Frames BP4D-training/<subject>/<task>/<frame>.jpg; intensities AUCoding/AU_INT/AU<k>/"
                "<subject>_<task>_AU<k>.csv ('frame,intensity'). Only frames coded for the AUs are used, "
                "cut into consecutive 48-frame clips; intensity 9 (not coded) is stored as -1 (ignore it "
                "in losses/metrics). 3 subject-independent folds by subject (sorted, round-robin).")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request BP4D-Spontaneous (FERA 2015 release) at http://www.cs.binghamton.edu/~lijun/Research/3DFE/
    3DFE_Analysis.html and extract it so that manual_dir holds
      BP4D-training/F001/T1/0001.jpg ... and AUCoding/AU_INT/AU06/F001_T1_AU06.csv ...
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        frames_root = os.path.join(root, "BP4D-training")
        if not os.path.isdir(frames_root):
            frames_root = os.path.join(root, "BP4D")
        sources = []
        for task_dir in sorted(glob.glob(os.path.join(frames_root, "*", "*"))):
            subject, task = task_dir.split(os.sep)[-2:]
            frames = {int(m.group(1)): f for f in glob.glob(os.path.join(task_dir, "*.jpg"))
                      if (m := re.match(r"^(\d+)\.jpg$", os.path.basename(f)))}
            try:
                per_au = [read_au_file(os.path.join(root, "AUCoding", "AU_INT", f"AU{k:02d}",
                                                    f"{subject}_{task}_AU{k:02d}.csv")) for k in self.AUS]
            except (OSError, ValueError) as e:
                self.skip(task_dir, f"AU labels unusable ({e})")
                continue
            coded = sorted(set(frames).intersection(*per_au))
            if not coded:
                self.skip(task_dir, "no frame has both an image and AU codes")
                continue
            au = np.array([[d[i] for d in per_au] for i in coded], np.float32)
            au[au == UNKNOWN] = -1.0
            sources.append(ClipSource(clip_id=f"{subject}_{task}", subject=subject, label=0,
                                      frames=tuple(frames[i] for i in coded), fps=25.0, au_intensity=au,
                                      window=self.WINDOW))
        return split_by_fold(sources, lambda s: s.subject, self.N_FOLDS)
