"""``predict --faces``: a face track feeds the model what training fed it (frame runs, the I-frame).

The tracker is replaced by one fixed track over the whole clip, so these tests check the serving
geometry and sampling, not detection (tests/faces/ covers the tracker).
"""

import numpy as np
import pytest

from data_pipelines import sampling
from data_pipelines.faces import FaceSettings
from data_pipelines.faces.track import Track, TrackResult
from data_pipelines.synthface.video_io import encode_video
from fer_jax.core.method import Feature, ServingSpec
from fer_jax.serving import face_inputs

N, SIDE = 24, 64


def _whole_clip_track(path, settings):
    frames = np.arange(N)
    track = Track(0, frames, np.tile([SIDE / 2, SIDE / 2, SIDE / 2], (N, 1)).astype(np.float32),
                  np.ones(N, bool), [], np.ones(N, np.float32))
    return TrackResult([track], N, (SIDE, SIDE), N, "fixed", fps=25.0)


@pytest.fixture
def video(tmp_path, monkeypatch):
    """Frame i is flat grey at 8·i + 20 (so a crop's mean tells which frame it came from)."""
    monkeypatch.setattr(face_inputs, "_track_video", _whole_clip_track)
    grey = (8 * np.arange(N) + 20).astype(np.uint8)
    frames = np.broadcast_to(grey[:, None, None, None], (N, SIDE, SIDE, 3)).copy()
    return str(encode_video(frames, tmp_path / "flat.mp4", qscale=1))


def test_frames_track_reads_runs_of_consecutive_frames(video):
    spec = ServingSpec({"frames": Feature((8, 16, 16, 3))}, "frames", "probabilities", ("a", "b"),
                       {"size": 16, "frames": 8, "frames_per_segment": 2})
    (prepared,) = face_inputs.prepare_faces(video, spec, FaceSettings())
    got = np.rint((prepared.inputs["frames"].mean(axis=(1, 2, 3)) * 255 - 20) / 8).astype(int)
    # the data path's evaluation runs: 4 segments x 2 consecutive frames
    np.testing.assert_array_equal(got, sampling.frame_positions(N, 4, 2, train=False).numpy())
    assert prepared.track["track_id"] == 0


def test_compressed_track_feeds_the_iframe_when_the_spec_asks(video):
    spec = ServingSpec({"iframe": Feature((16, 16, 3)), "residuals": Feature((3, 16, 16, 3))}, "compressed",
                       "probabilities", ("a", "b"), {"size": 16, "segments": 3, "gop": 12})
    (prepared,) = face_inputs.prepare_faces(video, spec, FaceSettings())
    assert set(prepared.inputs) == {"iframe", "residuals"}
    assert prepared.inputs["iframe"].shape == (16, 16, 3) and prepared.windows["iframe"].shape == (2, 16, 16, 3)
    # 2 GOPs of 12 frames: 22 valid P-frames (11 per GOP). K = 3 TSN segments of them are [0, 7), [7, 14),
    # [14, 22), centres 3, 10, 18; the middle segment's P-frame 10 is GOP 0's 11th, so its I-frame is frame 0
    # (grey 20), not frame 12 (grey 116).
    assert round(float(prepared.inputs["iframe"].mean()) * 255) in range(14, 27)
    # per GOP: each GOP's own I-frame, frames 0 and 12
    means = [round(float(w.mean()) * 255) for w in prepared.windows["iframe"]]
    assert means[0] in range(14, 27) and means[1] in range(110, 123), means
