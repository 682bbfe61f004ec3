"""One face pipeline for every entry point: detection, tracking, stable crops, optional alignment.

Used by ``fer-jax extract --crop-faces`` and ``predict --faces`` (video files: ``faces.video``, PyAV
decoding in front of the tracker), the builders of real datasets (``data_pipelines.common.sources`` with
``BuildSettings.face_crop``: :func:`crop_main_face`) and the AU / IFER commands. Which detector runs is
chosen in one place, ``FaceSettings.make_detector``: MTCNN (``faces.mtcnn``, JAX, weights from the
``facenet-pytorch`` wheel) when installed, else dlib's HOG; dlib's CNN on request. This package needs numpy,
dlib (and Pillow for resizing); ``faces.video`` (not imported here) adds PyAV; MTCNN adds JAX and Flax.

* ``detect``: detectors (MTCNN itself: ``mtcnn``, ``mtcnn_nets``, ``mtcnn_weights``, ``torch_weights``);
  ``track``: IoU tracking, smoothing, ``FaceSettings``; ``crop``: every crop (fixed square per track,
  smoothed square per frame, aligned chip); ``video``: faces in a video file.

```python
from data_pipelines.faces import FaceSettings, track_frames
result = track_frames(frames, FaceSettings().make_detector(), every=5, max_gap=25)   # TrackResult
result.tracks[0].boxes        # [n, 3] (cx, cy, side) per covered frame, smoothed
result.face_mask()            # frames no track covers are `no_face`
```
"""

from data_pipelines.faces.crop import (
           SYNTHFACE_FRAMING,
           Aligner,
           Box,
           crop_main_face,
           crop_square,
           face_crop,
           frame_cropper,
           frame_squares,
           reframed,
           track_square,
)
from data_pipelines.faces.detect import DETECTORS, Detection, FaceDetector, model_dir, to_gray
from data_pipelines.faces.track import (
           FaceSettings,
           FaceTracker,
           Track,
           TrackResult,
           iou,
           loaded_detector,
           moving_median,
           track_frames,
)

__all__ = ["SYNTHFACE_FRAMING", "Aligner", "Box", "DETECTORS", "Detection", "FaceDetector", "FaceSettings",
           "FaceTracker", "Track", "TrackResult", "crop_main_face", "crop_square", "face_crop", "frame_cropper",
           "frame_squares", "iou", "loaded_detector", "model_dir", "moving_median", "reframed", "to_gray",
           "track_frames", "track_square"]
