"""The tracker's association, lost-and-found and smoothing rules on scripted detections, and alignment
on a real face."""

import numpy as np
import pytest

from data_pipelines.faces import Detection, FaceTracker, frame_squares, track_square


class Scripted:
    """A detector that returns a scripted list of boxes per call (one call per sampled frame)."""

    name = "scripted"

    def __init__(self, script):
        self.script = list(script)

    def __call__(self, frame):
        return self.script.pop(0)


def box(cx, cy, side=40):
    return Detection(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, 1.0)


def run(script, n, every=1, max_gap=3):
    tracker = FaceTracker(Scripted(script), every=every, max_gap=max_gap)
    for i in range(n):
        tracker.update(i, np.zeros((200, 300), np.uint8))
    return tracker.finish()


def test_two_faces_give_two_tracks_and_a_lone_false_positive_is_dropped():
    script = [[box(50 + 2 * t, 100), box(250 - t, 90)] + ([box(150, 20)] if t == 4 else []) for t in range(10)]
    result = run(script, 10)
    assert [t.track_id for t in result.tracks] == [0, 1]
    left, right = result.tracks
    assert left.boxes[0, 0] < 100 < 200 < right.boxes[0, 0]  # each keeps its own face
    assert left.frames.tolist() == list(range(10)) and left.detected.all()
    assert result.face_mask().all() and result.summary()["face_share"] == 1.0


def test_lost_and_found_within_the_gap_keeps_the_id_and_is_documented():
    script = [[box(100, 100)]] * 3 + [[]] * 2 + [[box(104, 100)]] * 3  # missed on frames 3-4
    (track,) = run(script, 8, max_gap=3).tracks
    assert track.gaps == [(2, 5)] and track.detected.tolist() == [1, 1, 1, 0, 0, 1, 1, 1]
    assert track.frames.tolist() == list(range(8))  # the gap is interpolated: the face is assumed present


def test_lost_longer_than_the_gap_starts_a_new_track():
    script = [[box(100, 100)]] * 3 + [[]] * 5 + [[box(100, 100)]] * 3
    result = run(script, 11, max_gap=3)
    assert [(t.track_id, t.frames[0], t.frames[-1]) for t in result.tracks] == [(0, 0, 2), (1, 8, 10)]
    assert result.face_mask().tolist() == [True] * 3 + [False] * 5 + [True] * 3  # no_face frames


def test_sampled_detection_covers_its_frames_and_smoothing_ignores_one_jump():
    script = [[box(100, 100)], [box(100, 100)], [box(180, 100)], [box(100, 100)], [box(100, 100)]]
    (track,) = run(script, 25, every=5, max_gap=10).tracks
    assert track.frames.tolist() == list(range(25))
    assert np.abs(track.boxes[:, 0] - 100).max() < 20  # the one-sample jump to x=180 is filtered out
    x0, y0, side = track_square(track.boxes, (200, 300), margin=1.5)
    assert x0 <= 100 - 30 and x0 + side >= 100 + 30 and 0 <= y0 and y0 + side <= 200


def test_frame_squares_follow_the_face():
    sq = frame_squares(np.array([[100.0, 50.0, 40.0], [10.0, 10.0, 40.0]]), margin=1.5)
    assert sq.tolist() == [[70, 20, 60], [-20, -20, 60]]  # not clamped: the crop pads at the border


def test_alignment_undoes_a_rotation_of_a_real_face():
    from PIL import Image
    from skimage import data

    from data_pipelines.faces import Aligner, FaceDetector

    img = data.astronaut()
    rotated = np.asarray(Image.fromarray(img).rotate(20, resample=Image.BILINEAR, center=(223, 127)))
    aligner, det = Aligner(68), FaceDetector(upsample=1)
    chips = []
    for im in (img, rotated):
        d = max(det(im), key=lambda d: d.side)
        chips.append(aligner.chip(im, np.array([*d.centre, d.side]), 96).astype(np.float32))
        assert aligner.landmarks(im, np.array([*d.centre, d.side])).shape == (68, 2)
    plain = [np.asarray(Image.fromarray(im).crop((170, 70, 280, 180)).resize((96, 96)), np.float32)
             for im in (img, rotated)]
    aligned_corr = np.corrcoef(chips[0].ravel(), chips[1].ravel())[0, 1]
    plain_corr = np.corrcoef(plain[0].ravel(), plain[1].ravel())[0, 1]
    assert aligned_corr > 0.9 and aligned_corr > plain_corr + 0.05, (aligned_corr, plain_corr)


def test_settings_reject_bad_values():
    from data_pipelines.faces import FaceSettings

    with pytest.raises(ValueError, match="every"):
        FaceSettings(every=0)
    with pytest.raises(ValueError, match="align"):
        FaceSettings(align=3)


def test_predicts_face_dataset_list_is_the_builders_that_crop_faces():
    from data_pipelines.common.face_crop_builder import FaceCropBuilder
    from data_pipelines.common.registry import BUILDERS, builder_class
    from fer_jax.serving.predict import FACE_DATASETS

    cropping = {name for name in BUILDERS if issubclass(builder_class(name), FaceCropBuilder)}
    assert set(FACE_DATASETS) == cropping


def test_batched_detection_gives_the_same_tracks_as_frame_by_frame():
    script = [[box(50 + 3 * t, 100)] + ([box(200, 90)] if t < 6 else []) for t in range(8)]
    one = run(script, 38, every=5, max_gap=10)
    tracker = FaceTracker(Scripted(script), every=5, max_gap=10)
    sampled = list(range(0, 38, 5))
    for s in range(0, len(sampled), 3):  # batches of 3 sampled frames, as MTCNN gets them
        tracker.update_batch(sampled[s:s + 3], [np.zeros((200, 300), np.uint8)] * len(sampled[s:s + 3]))
    batched = tracker.finish(38)
    assert batched.summary() == one.summary() and batched.detector == "scripted"
    for a, b in zip(one.tracks, batched.tracks):
        np.testing.assert_array_equal(a.boxes, b.boxes)
