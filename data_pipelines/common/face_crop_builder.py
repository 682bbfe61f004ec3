"""``FaceCropBuilder``: the mixin a real-dataset builder puts before ``FerBuilder`` so its clips hold the
tracked face instead of the centre square of the frame.

What it changes: ``BuildSettings.face_crop`` is set (``common.sources.face_crop_frames`` tracks the faces
of each clip and crops one fixed square around the main track), the protocol text says how, the per-clip
record of what the tracker did (face share, tracks, main-track share, gaps, square) goes to
``metadata.json["faces"][clip_id]``, and the version is 1.2.0 so a centre-crop build (1.0.0) or a build
before MTCNN (1.1.0: dlib HOG always) is never reused. The detector is the default one (MTCNN when
facenet-pytorch's weights are installed, else HOG) or ``face_detector=`` (``fer-jax build --detector``);
``metadata["face_crop"]["detector"]`` and the protocol text name it. A clip without a face keeps the centre
square and says so (``crop: centre``).
With Beam (large datasets) the per-clip records stay in the workers: they are dropped, not recorded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from data_pipelines.faces import FaceSettings
from data_pipelines.tf_compat import import_tfds

tfds = import_tfds()
FACE_KEY = "face_track"  # the example key that carries the tracker's record from a worker to the builder


def face_protocol(face: FaceSettings) -> str:
    return (f" Face crop: {face.describe()}; a clip without a face keeps the centre square; metadata "
            "'faces'[clip_id] records the crop (face | centre) and the face share of each clip.")


def _drop_face_key(example: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    key, ex = example
    return key, {k: v for k, v in ex.items() if k != FACE_KEY}


class FaceCropBuilder:
    """Mixin: ``class CkPlus(FaceCropBuilder, FerBuilder)``; ``FACE_CROP`` holds the tracking settings."""

    FACE_CROP: ClassVar[FaceSettings] = FaceSettings()
    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "First release (centre square of each frame).",
        "1.1.0": "Frames hold the tracked face (one fixed square per clip); per-clip tracker records.",
        "1.2.0": "Faces found by MTCNN when facenet-pytorch's weights are installed (else dlib HOG), or the "
                 "detector named at build time; metadata face_crop.detector says which.",
    }

    def __init__(self, *args, face_detector: str | None = None, **kwargs):
        crop = type(self).FACE_CROP
        if face_detector and face_detector != "auto":
            crop = dataclasses.replace(crop, detector=face_detector)
        if self.crops_faces(kwargs.get("config")):
            crop = crop.resolved()  # the build records the detector it ran, never "auto"
        if crop != type(self).FACE_CROP:
            self.PROTOCOL = self.PROTOCOL.replace(face_protocol(type(self).FACE_CROP), face_protocol(crop))
            self.FACE_CROP = crop
        super().__init__(*args, **kwargs)

    @classmethod
    def crops_faces(cls, config: Any) -> bool:
        """Whether a build of ``config`` (a builder config or its name) looks for faces; every build does here."""
        return True

    def settings(self):
        return dataclasses.replace(super().settings(), face_crop=self.FACE_CROP)

    def _info(self):
        info = super()._info()
        info.metadata.setdefault("faces", {})
        info.metadata["face_crop"] = dataclasses.asdict(self.FACE_CROP)
        return info

    def _collect(self, results):
        for key, example in super()._collect(results):
            record = example.pop(FACE_KEY, None)
            if record is not None:
                self.info.metadata.setdefault("faces", {})[key] = record
            yield key, example

    def _generate_examples(self, sources):
        out = super()._generate_examples(sources)
        if self._beam_runner is not None and self.SUPPORTS_BEAM:
            beam = tfds.core.lazy_imports.apache_beam
            return out | beam.Map(_drop_face_key)
        return out
