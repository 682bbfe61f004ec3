"""AFEW (EmotiW): in-the-wild movie clips, 7 classes, official Train/Val partitions."""

from __future__ import annotations

import glob
import os

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.face_crop_builder import FaceCropBuilder, face_protocol
from data_pipelines.common.manual import first_existing
from data_pipelines.common.sources import ClipSource
from data_pipelines.faces import FaceSettings

# Movie faces are small in the frame: the HOG detector always looks once at 2x (upsample=1); its automatic
# rule upsamples only frames under 240 px, and a face in a larger movie frame can still be below its window.
# (MTCNN, the default when installed, ignores upsample: it searches faces down to 20 px at 640 px.)
FACE_CROP = FaceSettings(upsample=1)


class Afew(FaceCropBuilder, FerBuilder):
    """AFEW 7.0: Train_AFEW/<Emotion>/*.avi and Val_AFEW/<Emotion>/*.avi."""

    name = "afew"
    FACE_CROP = FACE_CROP
    LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
    REQUIRED = ("Train_AFEW|Train", "Val_AFEW|Val")
    PROTOCOL = ("Official partitions: train (Train_AFEW) and val (Val_AFEW; the test labels are not "
                "public). Labels from the emotion folder. AFEW has no subject ids: subject = clip id; "
                "the official partitions are actor-disjoint by construction.") + face_protocol(FACE_CROP)
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request AFEW 7.0 from the EmotiW organisers (https://sites.google.com/site/emotiwchallenge/) and
    extract it so that manual_dir holds Train_AFEW/Angry/*.avi ... and Val_AFEW/Angry/*.avi ...
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        splits = {}
        for split, options in (("train", ("Train_AFEW", "Train")), ("val", ("Val_AFEW", "Val"))):
            base = first_existing(root, options)
            sources = []
            for label, folder in enumerate(self.FOLDERS):
                for video in sorted(glob.glob(os.path.join(base, folder, "*.avi"))):
                    stem = os.path.splitext(os.path.basename(video))[0]
                    sources.append(ClipSource(clip_id=f"{split}_{stem}", subject=f"{split}_{stem}",
                                              label=label, video=video))
            splits[split] = sources
        return splits
