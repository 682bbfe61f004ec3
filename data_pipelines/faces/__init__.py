"""One face pipeline for every entry point: detection, tracking, stable crops, optional alignment.

Used by ``fer-jax extract --crop-faces`` (``data_pipelines.compressed.faces``), ``fer-jax predict``
(``fer_jax.serving.prepare``), the builders of real datasets (``data_pipelines.common.sources`` with
``BuildSettings.face_crop``) and the AU / IFER commands. numpy, dlib (and Pillow for resizing) only;
video decoding stays with the callers.

```python
from data_pipelines.faces import FaceDetector, FaceTracker, track_frames, track_square, frame_squares
result = track_frames(frames, FaceDetector("hog"), every=5, max_gap=25)   # TrackResult
result.tracks[0].boxes        # [n, 3] (cx, cy, side) per covered frame, smoothed
result.face_mask()            # frames no track covers are `no_face`
```
"""

from data_pipelines.faces.crop import Aligner, Box, crop_square, frame_squares, track_square
from data_pipelines.faces.detect import DETECTORS, Detection, FaceDetector, model_dir, to_gray
from data_pipelines.faces.track import FaceSettings, FaceTracker, Track, TrackResult, iou, moving_median, track_frames

__all__ = ["Aligner", "Box", "DETECTORS", "Detection", "FaceDetector", "FaceSettings", "FaceTracker", "Track",
           "TrackResult", "crop_square", "frame_squares", "iou", "model_dir", "moving_median", "to_gray",
           "track_frames", "track_square"]
