"""DFEW: 16,372 in-the-wild movie clips, 7 classes, 5 official folds."""

from __future__ import annotations

import csv
import glob
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.sources import ClipSource


class Dfew(FerBuilder):
    """DFEW (single-labelled clips) in its five official folds."""

    name = "dfew"
    LABELS = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # DFEW labels 1..7
    N_FOLDS = 5
    SUPPORTS_BEAM = True
    REQUIRED = ("EmoLabel_DataSplit", "Clip/clip_224x224")
    PROTOCOL = ("Official 5 folds: split fold{k-1} = the clips of EmoLabel_DataSplit/test(single-labeled)/"
                "set_k.csv, so train@foldK (all other folds) equals the official training set k. Frames from "
                "Clip/clip_224x224/<video_name>/*.jpg. DFEW has no subject ids: subject = clip id (the "
                "official folds are the subject-level protocol). Apex not annotated.")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request DFEW at https://dfew-dataset.github.io/ and extract it so that manual_dir holds
      EmoLabel_DataSplit/test(single-labeled)/set_1.csv ... set_5.csv   (columns video_name,label)
      Clip/clip_224x224/00001/00001.jpg ...
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        splits = {}
        for k in range(1, self.N_FOLDS + 1):
            label_csv = os.path.join(root, "EmoLabel_DataSplit", "test(single-labeled)", f"set_{k}.csv")
            sources = []
            if not os.path.isfile(label_csv):
                self.skip(label_csv, "official fold label file missing")
            else:
                with open(label_csv, newline="") as f:
                    for row in csv.DictReader(f):
                        name, code = f"{int(row['video_name']):05d}", int(row["label"])
                        if not 1 <= code <= 7:
                            self.skip(label_csv, f"clip {name}: label {code} outside 1..7")
                            continue
                        frames = sorted(glob.glob(os.path.join(root, "Clip", "clip_224x224", name, "*.jpg")))
                        if not frames:
                            self.skip(os.path.join(root, "Clip", "clip_224x224", name), "clip folder missing or empty")
                            continue
                        sources.append(ClipSource(clip_id=name, subject=name, label=code - 1,
                                                  frames=tuple(frames), fps=25.0))
            splits[f"fold{k - 1}"] = sources
        return splits
