"""RAF-DB (basic): in-the-wild still faces, 7 classes, official train/test split, and a validation split
carved from the training images (the official protocol has none; choosing checkpoints on test is refused)."""

from __future__ import annotations

import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.sources import ImageSource
from data_pipelines.tf_compat import import_tfds

tfds = import_tfds()


class RafDb(FerBuilder):
    """RAF-DB basic emotions: 12,271 train / 3,068 test aligned 100x100 faces."""

    name = "rafdb"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release.", "1.1.0": "val: a tenth of the training images (seeded), carved out."}
    KIND = "image"
    VAL_FRACTION = 0.1
    LABELS = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")  # RAF-DB 1..7
    REQUIRED = ("basic/EmoLabel/list_patition_label.txt", "basic/Image/aligned|basic/Image/original")
    PROTOCOL = ("basic/EmoLabel/list_patition_label.txt ('train_00001.jpg 5'): split from the name prefix "
                "(train/test), label 1..7. Images from basic/Image/aligned/<stem>_aligned.jpg (or "
                "basic/Image/original/<name> when the aligned set is absent). No subject ids: subject = image id. "
                "val = a tenth of the official training images, drawn with seed 0 (metadata 'carved_val'); "
                "train = the rest.")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request RAF-DB at http://www.whdeng.cn/raf/model1.html and extract the basic set so that manual_dir holds
      basic/EmoLabel/list_patition_label.txt and basic/Image/aligned/train_00001_aligned.jpg ...
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        aligned = os.path.join(root, "basic", "Image", "aligned")
        use_aligned = os.path.isdir(aligned)
        splits: dict[str, list] = {"train": [], "test": []}
        label_file = os.path.join(root, "basic", "EmoLabel", "list_patition_label.txt")
        for n, line in enumerate(open(label_file), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                name, code = parts[0], int(parts[1])
                split = name.split("_")[0]
                if split not in splits or not 1 <= code <= 7:
                    raise ValueError(f"split {split!r} / label {code}")
            except (ValueError, IndexError) as e:
                self.skip(f"{label_file}:{n}", f"malformed line {line.strip()!r} ({e})")
                continue
            stem = os.path.splitext(name)[0]
            path = (os.path.join(aligned, f"{stem}_aligned.jpg") if use_aligned
                    else os.path.join(root, "basic", "Image", "original", name))
            splits[split].append(ImageSource(image_id=stem, subject=stem, label=code - 1, path=path))
        splits["train"], splits["val"] = self.carve_val(splits["train"], self.VAL_FRACTION)
        return splits
