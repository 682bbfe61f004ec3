"""DFEW: 16,372 in-the-wild movie clips, 7 classes, 5 official folds.

Two label layouts are read (the first found wins):

* the official release: ``EmoLabel_DataSplit/test(single-labeled)/set_<k>.csv`` (``video_name,label``,
  labels 1..7);
* Former-DFER's split files ``DFEW_set_<k>_test.txt`` (and ``_train.txt``) in the manual dir, its
  ``annotation/`` or ``EmoLabel_DataSplit/`` folder: one clip a line, ``<frame_dir> <num_frames> <label>``,
  labels 0..6 in the order Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear (the official codes minus
  1), ``<frame_dir>`` an absolute path of the authors' machine whose last part is the clip name.

Either way fold k-1 holds the test clips of official set k, so ``train@fold<k-1>`` is official training set
k. Frames are read from ``Clip/clip_224x224/<clip>/*.jpg`` (sorted); the ``num_frames`` column counts the
frames of Former-DFER's own face crops and is not used. A training file that is not the union of the
other sets' test files is an error (mixed-up split files); clips listed but absent on disk are skipped
and reported. Short clips are kept whole: the data path samples 8 segments × 2 frames from any length
(``data_pipelines/sampling.frame_positions``: overlapping runs in time order, the last frame repeated past
the end, as Former-DFER pads with its last frame).
"""

from __future__ import annotations

import csv
import glob
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.face_crop_builder import FaceCropBuilder, face_protocol
from data_pipelines.common.manual import ManualDirError
from data_pipelines.common.sources import ClipSource
from data_pipelines.faces import FaceSettings

# Movie faces are small in the frame: the HOG detector always looks once at 2x (upsample=1); its automatic
# rule upsamples only frames under 240 px, and a face in a larger movie frame can still be below its window.
# (MTCNN, the default when installed, ignores upsample: it searches faces down to 20 px at 640 px.)
FACE_CROP = FaceSettings(upsample=1)

SPLIT_FILE_DIRS = ("", "annotation", "EmoLabel_DataSplit")


class Dfew(FaceCropBuilder, FerBuilder):
    """DFEW (single-labelled clips) in its five official folds."""

    name = "dfew"
    FACE_CROP = FACE_CROP
    LABELS = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # DFEW labels 1..7
    N_FOLDS = 5
    SUPPORTS_BEAM = True
    REQUIRED = ("Clip/clip_224x224",)
    PROTOCOL = ("Official 5 folds: split fold{k-1} = the test clips of official set k (EmoLabel_DataSplit/"
                "test(single-labeled)/set_k.csv, or Former-DFER's DFEW_set_k_test.txt), so train@foldK (all "
                "other folds) equals the official training set k. Frames from Clip/clip_224x224/<clip>/*.jpg. "
                "DFEW has no subject ids: subject = clip id (the official folds are the subject-level "
                "protocol). Apex not annotated.") + face_protocol(FACE_CROP)
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request DFEW at https://dfew-dataset.github.io/ and extract it so that manual_dir holds
      Clip/clip_224x224/00001/00001.jpg ...
    and the fold labels, either the official
      EmoLabel_DataSplit/test(single-labeled)/set_1.csv ... set_5.csv   (columns video_name,label)
    or Former-DFER's split files DFEW_set_1_test.txt ... DFEW_set_5_test.txt (+ _train.txt)
      (lines "<frame_dir> <num_frames> <label 0..6>"), in manual_dir or manual_dir/annotation.
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        official = os.path.join(root, "EmoLabel_DataSplit", "test(single-labeled)")
        if os.path.isdir(official):
            folds = {k: self._read_official(os.path.join(official, f"set_{k}.csv"))
                     for k in range(1, self.N_FOLDS + 1)}
        else:
            folder = self._split_file_dir(root)
            folds = {k: self._read_split_file(os.path.join(folder, f"DFEW_set_{k}_test.txt"))
                     for k in range(1, self.N_FOLDS + 1)}
            self._check_train_files(folder, folds)
        return {f"fold{k - 1}": self._sources(root, rows) for k, rows in folds.items()}

    def _split_file_dir(self, root: str) -> str:
        for sub in SPLIT_FILE_DIRS:
            if os.path.isfile(os.path.join(root, sub, "DFEW_set_1_test.txt")):
                return os.path.join(root, sub)
        raise ManualDirError(self.name, root, "has neither EmoLabel_DataSplit/test(single-labeled)/ nor "
                             "Former-DFER's DFEW_set_<k>_test.txt files", self.MANUAL_DOWNLOAD_INSTRUCTIONS)

    def _read_official(self, path: str) -> list[tuple[str, int]]:
        if not os.path.isfile(path):
            self.skip(path, "official fold label file missing")
            return []
        rows = []
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                name, code = f"{int(row['video_name']):05d}", int(row["label"])
                if not 1 <= code <= 7:
                    self.skip(path, f"clip {name}: label {code} outside 1..7")
                    continue
                rows.append((name, code - 1))
        return rows

    def _read_split_file(self, path: str) -> list[tuple[str, int]]:
        if not os.path.isfile(path):
            self.skip(path, "Former-DFER split file missing")
            return []
        rows = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
                    raise ValueError(f"{path}:{n}: expected '<frame_dir> <num_frames> <label>', got {line!r}")
                name, label = os.path.basename(parts[0].rstrip("/\\")), int(parts[2])
                if not 0 <= label <= 6:
                    self.skip(path, f"line {n}: clip {name}: label {label} outside 0..6")
                    continue
                rows.append((name, label))
        return rows

    def _check_train_files(self, folder: str, folds: dict[int, list[tuple[str, int]]]) -> None:
        for k in folds:
            path = os.path.join(folder, f"DFEW_set_{k}_train.txt")
            if not os.path.isfile(path):
                continue
            listed = {name for name, _ in self._read_split_file(path)}
            others = {name for j, rows in folds.items() if j != k for name, _ in rows}
            if listed != others:
                extra, missing = sorted(listed - others)[:3], sorted(others - listed)[:3]
                raise ValueError(f"{path} is not the union of the other sets' test files (only in it: {extra}, "
                                 f"missing from it: {missing}): split files from different releases?")

    def _sources(self, root: str, rows: list[tuple[str, int]]) -> list[ClipSource]:
        sources = []
        for name, label in rows:
            folder = os.path.join(root, "Clip", "clip_224x224", name)
            frames = sorted(glob.glob(os.path.join(folder, "*.jpg")))
            if not frames:
                self.skip(folder, "clip folder missing or empty")
                continue
            sources.append(ClipSource(clip_id=name, subject=name, label=label, frames=tuple(frames), fps=25.0))
        return sources
