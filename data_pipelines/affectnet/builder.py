"""AffectNet (manually annotated part): in-the-wild still faces, official train/validation lists."""

from __future__ import annotations

import csv
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.sources import ImageSource


class AffectNet(FerBuilder):
    """AffectNet-7: the seven basic classes of the manually annotated images, face box cropped."""

    name = "affectnet"
    KIND = "image"
    LABELS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")  # AffectNet 0..6
    SUPPORTS_BEAM = True
    REQUIRED = ("Manually_Annotated_file_lists/training.csv", "Manually_Annotated_file_lists/validation.csv",
                "Manually_Annotated_Images")
    PROTOCOL = ("Manually_Annotated_file_lists/training.csv -> train, validation.csv -> validation (the "
                "official test set is not public). Columns subDirectory_filePath, face_x, face_y, "
                "face_width, face_height, facial_landmarks, expression, ...; the face box is cropped. "
                "Choice: 7 classes (0-6); contempt (7), none (8), uncertain (9) and no-face (10) are left "
                "out, the common AffectNet-7 protocol. No subject ids: subject = image path.")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request AffectNet at http://mohammadmahoor.com/affectnet/ and extract it so that manual_dir holds
      Manually_Annotated_file_lists/training.csv, Manually_Annotated_file_lists/validation.csv and
      Manually_Annotated_Images/<subDirectory>/<file>.jpg
    """
    FIELDS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
              "expression", "valence", "arousal")

    def _list_sources(self, root: str) -> dict[str, list]:
        splits = {}
        for split, name in (("train", "training.csv"), ("validation", "validation.csv")):
            path = os.path.join(root, "Manually_Annotated_file_lists", name)
            items = []
            with open(path, newline="") as f:
                for n, row in enumerate(csv.reader(f), 1):
                    if not row or row[0] == self.FIELDS[0]:
                        continue  # header (validation.csv ships without one)
                    try:
                        rel, x, y, w, h = row[0], *(int(float(v)) for v in row[1:5])
                        code = int(row[6])
                    except (ValueError, IndexError) as e:
                        self.skip(f"{path}:{n}", f"malformed row ({e})")
                        continue
                    if not 0 <= code < len(self.LABELS):
                        continue  # contempt / none / uncertain / no-face: outside the 7-class protocol
                    image = os.path.join(root, "Manually_Annotated_Images", rel)
                    image_id = rel.replace("/", "_")
                    items.append(ImageSource(image_id=image_id, subject=image_id, label=code, path=image,
                                             box=(x, y, w, h)))
            splits[split] = items
        return splits
