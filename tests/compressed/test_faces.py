"""--crop-faces on a real face clip (carphone) and on a clip without a face."""

import av
import dlib
import numpy as np
import pytest
from compressed_videos import write_video

from data_pipelines.compressed import ExtractionError, extract_file
from data_pipelines.faces import FaceSettings
from data_pipelines.faces import track_square as square_from_track
from data_pipelines.faces.video import face_square, track_video


def test_face_square_is_stable_and_contains_the_face(carphone):
    result = track_video(carphone, FaceSettings(every=10))
    assert result.n_frames == 120 and result.shape == (144, 176) and len(result.tracks) == 1
    track = result.tracks[0].boxes
    assert result.tracks[0].frames.tolist() == list(range(120))  # the face is there throughout
    h, w = result.shape
    x0, y0, side = square_from_track(track, (h, w))
    assert 0 <= x0 and 0 <= y0 and x0 + side <= w and y0 + side <= h
    # every (independent, full-rate) dlib detection lies inside the one square
    det = dlib.get_frontal_face_detector()
    with av.open(carphone) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 17:
                continue
            boxes = det(f.to_ndarray(format="gray"), 1)
            for b in boxes:
                assert x0 <= b.left() + 2 and b.right() <= x0 + side + 2
                assert y0 <= b.top() + 2 and b.bottom() <= y0 + side + 2


def test_extract_with_face_crop_records_the_box(carphone):
    clip = extract_file(carphone, size=64, crop_faces=True, detect_every=10)
    assert clip.meta["face_box"] == list(face_square(carphone, every=10))
    assert clip.meta["faces"]["face_share"] == 1.0 and clip.meta["faces"]["main_track"] == 0
    assert clip.iframes.shape == (10, 64, 64, 3) and clip.meta["n_frames"] == 120
    # the crop is fixed, so the static cabin behind the face does not pick up crop motion
    assert np.median(np.abs(clip.motion_vectors.astype(np.float32))) < 1.0


def test_square_from_track_covers_a_moving_face():
    t = np.arange(50)
    track = np.stack([100 + t, 80 + 0 * t, 40 + 0 * t], 1).astype(float)  # face slides 50 px right
    x0, y0, side = square_from_track(track, (300, 400), margin=1.5)
    assert x0 <= 100 - 30 and x0 + side >= 149 + 30 and y0 <= 80 - 30
    x0, y0, side = square_from_track(track, (100, 400), margin=1.5)  # too tall: clamped to the frame
    assert side == 100 and y0 == 0


def test_no_face_is_a_clear_failure(tmp_path):
    frames = np.zeros((6, 64, 64, 3), np.uint8)
    frames[:, 20:40, 20:40] = 200
    p = write_video(tmp_path / "noface.mp4", frames)
    with pytest.raises(ExtractionError, match="no face found"):
        extract_file(p, size=32, crop_faces=True)
