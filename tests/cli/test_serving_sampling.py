"""Serving sees the frames the data path samples: over many clip lengths and segment counts, the positions
``fer_jax.serving.prepare`` picks (``clip_inputs`` for compressed clips, ``frame_picker`` for decoded frames)
are the ones ``data_pipelines.sampling`` gives at evaluation (``sample_segments``, ``frame_positions``), and
each training draw falls in the segment whose evaluation frame serving shows. Both public routes are called,
never the shared arithmetic twice; edge cases: fewer frames than segments, as many, one frame, none.
"""

import numpy as np
import pytest

from data_pipelines import sampling
from data_pipelines.tf_compat import import_tf
from fer_jax.core.method import Feature, ServingSpec
from fer_jax.serving.prepare import clip_inputs, frame_picker

tf = import_tf()
RNG = np.random.default_rng(0)
EDGES = [(1, 1), (1, 3), (2, 3), (3, 3), (4, 4), (5, 8), (7, 2), (8, 8), (9, 16), (16, 16)]
PAIRS = EDGES + [(int(n), int(k)) for n, k in zip(RNG.integers(1, 400, 60), RNG.integers(1, 33, 60))]


def _segment_of(position: np.ndarray, n: int, k: int) -> np.ndarray:
    """Index of the equal segment (bounds floor(i * n / k), written out here) each position lies in."""
    stops = np.array([(i + 1) * n // k for i in range(k)])
    return np.searchsorted(stops, position, side="right")


def _compressed_clip(n_p: int, gop: int):
    """A clip with ``n_p`` valid P-frames in GOPs of ``gop`` (the last one short, its tail padding); each
    slot's residual holds its flat slot index, so an output residual says which slot was picked."""
    p = gop - 1
    g = max(1, -(-n_p // p))
    ft = np.concatenate([np.ones((g, 1), np.int32), (np.arange(g * p) < n_p).reshape(g, p) * 2], 1)
    assert (ft == 2).sum() == n_p
    res = np.broadcast_to(np.arange(g * p, dtype=np.int16).reshape(g, p, 1, 1, 1), (g, p, 1, 1, 3)).copy()
    mv = np.zeros((g, p, 1, 1, 2), np.float16)
    iframes = np.broadcast_to(np.arange(g, dtype=np.uint8).reshape(g, 1, 1, 1), (g, 1, 1, 3)).copy()
    return ft, res, mv, iframes


@pytest.mark.parametrize("gop", [2, 5, 12])
def test_compressed_serving_picks_the_data_paths_evaluation_segments(gop):
    for n, k in PAIRS + [(0, 1), (0, 4)]:  # 0: a single-frame clip, no P-frame at all
        ft, res, mv, iframes = _compressed_clip(n, gop)
        served = clip_inputs(ft, res, mv, k, iframes)
        served_slots = np.rint(served["residuals"][:, 0, 0, 0] * 255).astype(int)
        example = {"frame_types": tf.constant(ft), "residuals": tf.constant(res.reshape(-1, 1, 1, 3)),
                   "motion_vectors": tf.constant(mv), "iframes": tf.constant(iframes), "apex_index": -1}
        data = sampling.sample_segments(example, k, "tsn", train=False)
        np.testing.assert_array_equal(served_slots, data["residuals"].numpy()[:, 0, 0, 0], err_msg=f"n={n} k={k}")
        np.testing.assert_array_equal(np.rint(served["iframe"] * 255), data["iframe"].numpy(), err_msg=f"n={n} k={k}")


def _spec(t: int, per: int) -> ServingSpec:
    return ServingSpec({"frames": Feature((t, 1, 1, 3))}, "frames", "probabilities", ("a", "b"),
                       {"size": 1, "frames": t, "frames_per_segment": per})


@pytest.mark.parametrize("per", [1, 2, 3])
def test_frames_serving_picks_the_data_paths_evaluation_runs(per):
    for n, segments in PAIRS:
        frames = np.broadcast_to(np.arange(n, dtype=np.int32).reshape(n, 1, 1, 1), (n, 1, 1, 3))  # frame i holds i
        served = np.rint(frame_picker("clip.mp4", _spec(segments * per, per), segments * per)(frames) * 255)
        data = sampling.frame_positions(tf.constant(n), segments, per, train=False).numpy()
        np.testing.assert_array_equal(served[:, 0, 0, 0].astype(int), data, err_msg=f"n={n} segments={segments}")


@pytest.mark.parametrize("per", [1, 2])
def test_training_draws_stay_in_the_segment_serving_shows(per):
    """Training draws at random inside each segment; serving's frame of segment j lies in segment j too
    (the same segment, clamped to the clip when it has fewer frames than segments)."""
    for n, segments in PAIRS[:40]:
        frames = np.broadcast_to(np.arange(n, dtype=np.int32).reshape(n, 1, 1, 1), (n, 1, 1, 3))  # frame i holds i
        served = np.rint(frame_picker("clip.mp4", _spec(segments * per, per), segments * per)(frames) * 255)
        served_segment = _segment_of(served[::per, 0, 0, 0].astype(int), n, segments)
        for seed in range(3):
            drawn = sampling.frame_positions(tf.constant(n), segments, per, train=True, seed=[seed, n]).numpy()
            np.testing.assert_array_equal(_segment_of(drawn[::per], n, segments), served_segment,
                                          err_msg=f"n={n} segments={segments} seed={seed}")
            tsn = sampling.tsn_positions(tf.constant(n), segments, train=True, seed=[seed, n]).numpy()
            ft, res, mv, _ = _compressed_clip(n, 12)
            slots = np.rint(clip_inputs(ft, res, mv, segments)["residuals"][:, 0, 0, 0] * 255).astype(int)
            np.testing.assert_array_equal(_segment_of(tsn, n, segments), _segment_of(slots, n, segments))
