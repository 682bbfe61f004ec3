"""SFEW 2.0: still frames from AFEW movies, 7 classes, official Train/Val partitions."""

from __future__ import annotations

import glob
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.manual import first_existing
from data_pipelines.common.sources import ImageSource


class Sfew(FerBuilder):
    """SFEW 2.0 aligned faces: Train/Train_Aligned_Faces/<Emotion>/*.png, Val/Val_Aligned_Faces/<Emotion>/*.png."""

    name = "sfew"
    KIND = "image"
    LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
    REQUIRED = ("Train/Train_Aligned_Faces|Train_Aligned_Faces", "Val/Val_Aligned_Faces|Val_Aligned_Faces")
    PROTOCOL = ("Official partitions train and val (test labels are not public); labels from the emotion "
                "folder. Subject = the movie-scene prefix of the file name (<movie>_<timestamp>), so frames "
                "of one scene share a subject; the official partitions are scene-disjoint.")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request SFEW 2.0 from the EmotiW organisers (https://sites.google.com/site/emotiwchallenge/) and
    extract it so that manual_dir holds Train/Train_Aligned_Faces/Angry/*.png and Val/Val_Aligned_Faces/Angry/*.png
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        splits = {}
        for split, options in (("train", ("Train/Train_Aligned_Faces", "Train_Aligned_Faces")),
                               ("val", ("Val/Val_Aligned_Faces", "Val_Aligned_Faces"))):
            base = first_existing(root, options)
            items = []
            for label, folder in enumerate(self.FOLDERS):
                for path in sorted(glob.glob(os.path.join(base, folder, "*.png"))):
                    stem = os.path.splitext(os.path.basename(path))[0]
                    scene = stem.rsplit("_", 1)[0] if "_" in stem else stem
                    items.append(ImageSource(image_id=f"{split}_{folder}_{stem}", subject=f"{split}_{scene}",
                                             label=label, path=path))
            splits[split] = items
        return splits
