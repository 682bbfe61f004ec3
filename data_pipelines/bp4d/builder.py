"""BP4D (FERA 2015 intensity subset): spontaneous AU intensity of AUs 6, 10, 12, 14, 17.

Two protocols, chosen when building (``fer-jax build bp4d --protocol fera|folds``; part of the config name):

* ``fera`` (the default): the FERA 2015 challenge's partition, the one the AU-intensity literature reports
  BP4D on: its 21 training subjects train, its 20 development subjects are the test side (the challenge's own
  test subjects were never released). A validation split is carved from the training subjects (a seventh,
  seed 0, recorded in the metadata), so no checkpoint is chosen on the test side.
* ``folds``: 3 subject-independent folds over every subject (sorted, round-robin; ``fer-jax cv``).

The subject lists (:data:`FERA_TRAIN`, :data:`FERA_DEVEL`) are those of the FERA 2015 baseline code as
released with OpenFace (``TadasBaltrusaitis/OpenFace``, AU training experiments for BP4D: ``train_recs`` /
``devel_recs``): odd-numbered subjects train, even-numbered ones are the development partition.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

import numpy as np

from data_pipelines.common.builder import FerBuilder, FerConfig, config_name
from data_pipelines.common.folds import split_by_fold
from data_pipelines.common.sources import ClipSource
from data_pipelines.disfa.builder import read_au_file
from data_pipelines.tf_compat import import_tfds

tfds = import_tfds()
UNKNOWN = 9  # FERA 2015's code for "intensity not coded"
PROTOCOLS = ("fera", "folds")
FERA_TRAIN = ("F001", "F003", "F005", "F007", "F009", "F011", "F013", "F015", "F017", "F019", "F021", "F023",
              "M001", "M003", "M005", "M007", "M009", "M011", "M013", "M015", "M017")  # 21 subjects
FERA_DEVEL = ("F002", "F004", "F006", "F008", "F010", "F012", "F014", "F016", "F018", "F020", "F022",
              "M002", "M004", "M006", "M008", "M010", "M012", "M014", "M016", "M018")  # 20 subjects


@dataclasses.dataclass(eq=False)
class Bp4dConfig(FerConfig):
    """Adds the evaluation ``protocol`` (``fera`` | ``folds``)."""

    protocol: str = "fera"


class Bp4d(FerBuilder):
    """BP4D-Spontaneous as distributed for FERA 2015: frame folders per subject and task + AU intensity CSVs."""

    name = "bp4d"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release (3 round-robin folds).",
                     "1.1.0": "The FERA 2015 train / development partition (+ carved val) as the default protocol."}
    LABELS = ("none",)  # AU dataset: no expression class; every clip has label 0
    AUS = (6, 10, 12, 14, 17)
    N_FOLDS = 3
    WINDOW = 48
    VAL_FRACTION = 1 / 7  # 3 of FERA's 21 training subjects
    REQUIRED = ("BP4D-training|BP4D-development|BP4D", "AUCoding/AU_INT")
    FRAME_DIRS = ("BP4D-training", "BP4D-development", "BP4D")
    PROTOCOL = ("Frames <BP4D-training|BP4D-development|BP4D>/<subject>/<task>/<frame>.jpg; intensities "
                "AUCoding/AU_INT/AU<k>/<subject>_<task>_AU<k>.csv ('frame,intensity'). Only frames coded for "
                "the AUs are used, cut into consecutive 48-frame clips; intensity 9 (not coded) is stored as -1 "
                "(ignore it in losses/metrics). Protocol 'fera': train / val = FERA 2015's 21 training subjects "
                "(val: 3 of them, seed 0, metadata 'carved_val'), test = its 20 development subjects; "
                "'folds': fold0..fold2 by subject (sorted, round-robin).")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request BP4D-Spontaneous (FERA 2015 release) at http://www.cs.binghamton.edu/~lijun/Research/3DFE/
    3DFE_Analysis.html and extract it so that manual_dir holds
      BP4D-training/F001/T1/0001.jpg ... (and BP4D-development/F002/T1/0001.jpg ..., or every subject
      under BP4D/) and AUCoding/AU_INT/AU06/F001_T1_AU06.csv ...
    """
    @classmethod
    def make_config(cls, size: int = 112, gop: int = 12, mode: str = "accumulate", identity_backbone: str = "dlib",
                    store_frames: bool = False, *, protocol: str = "fera") -> Bp4dConfig:
        if protocol not in PROTOCOLS:
            raise ValueError(f"bp4d: protocol must be one of {PROTOCOLS}, got {protocol!r}")
        name = config_name("video", size, gop, mode, identity_backbone, store_frames)
        name += "" if protocol == "fera" else f"_{protocol}"
        return Bp4dConfig(name=name, size=size, gop=gop, mode=mode, identity_backbone=identity_backbone,
                          store_frames=store_frames, protocol=protocol,
                          description=f"size={size} gop={gop} mode={mode} identity_backbone={identity_backbone} "
                                      f"store_frames={store_frames} protocol={protocol}")

    def _list_sources(self, root: str) -> dict[str, list]:
        sources = []
        task_dirs = [d for sub in self.FRAME_DIRS for d in glob.glob(os.path.join(root, sub, "*", "*"))]
        for task_dir in sorted(task_dirs, key=lambda d: d.split(os.sep)[-2:]):
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
        if getattr(self.builder_config, "protocol", "fera") == "folds":
            return split_by_fold(sources, lambda s: s.subject, self.N_FOLDS)
        return self.fera_splits(sources)

    def fera_splits(self, sources: list) -> dict[str, list]:
        """train / val (carved from FERA's training subjects) / test (its development subjects)."""
        for s in sources:
            if s.subject not in FERA_TRAIN and s.subject not in FERA_DEVEL:
                self.skip(s.clip_id, f"subject {s.subject} is in neither FERA 2015 partition")
        train_all = [s for s in sources if s.subject in FERA_TRAIN]
        train, val = self.carve_val(train_all, self.VAL_FRACTION)
        return {"train": train, "val": val, "test": [s for s in sources if s.subject in FERA_DEVEL]}
