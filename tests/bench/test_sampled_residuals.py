"""``extract_stream(residual_frames=...)``: residuals only at requested frames, identical to full extraction
there, zeros elsewhere, everything else unchanged; and the benchmark's frame plan matches ``clip_inputs``."""

import numpy as np
import pytest
from skimage import data as skdata

from benchmarks.bench_inference import sampled_frames
from data_pipelines.compressed import canonical
from data_pipelines.compressed.extract import extract_stream
from fer_jax.serving.predictor import clip_inputs

S, GOP, N = 32, 6, 15  # 3 GOPs, the last one short (3 frames)


@pytest.fixture(scope="module")
def stream() -> bytes:
    img = skdata.astronaut()
    frames = np.stack([img[150 - t: 150 - t + S, 150 + 2 * t: 150 + 2 * t + S] for t in range(N)])
    return canonical.encode_canonical(frames, size=S, fps=25, gop=GOP)


@pytest.mark.parametrize("mode", ["accumulate", "frame"])
def test_selected_residuals_equal_full_extraction_and_others_are_zero(stream, mode):
    full = extract_stream(stream, size=S, gop=GOP, mode=mode)
    want = [0, 2, 5, 7, 13, 14, 40]  # 0 is an I-frame and 40 is past the end: both ignored
    part = extract_stream(stream, size=S, gop=GOP, mode=mode, residual_frames=want)
    for key in ("iframes", "motion_vectors", "frame_types", "pts"):
        np.testing.assert_array_equal(part[key], full[key])
    res_full = full["residuals"].reshape(-1, S, S, 3)
    res_part = part["residuals"].reshape(-1, S, S, 3)
    slot_frame = (np.arange(3)[:, None] * GOP + 1 + np.arange(GOP - 1)[None]).reshape(-1)  # frame of each slot
    chosen = np.isin(slot_frame, [2, 5, 7, 13, 14])
    assert chosen.sum() == 5 and np.abs(res_full[chosen]).sum() > 0
    np.testing.assert_array_equal(res_part[chosen], res_full[chosen])
    assert not res_part[~chosen].any()


def test_empty_selection_gives_no_residuals(stream):
    part = extract_stream(stream, size=S, gop=GOP, residual_frames=[])
    assert part["residuals"].shape == (3, GOP - 1, S, S, 3) and not part["residuals"].any()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_benchmark_plan_is_what_clip_inputs_picks(stream, k):
    full = extract_stream(stream, size=S, gop=GOP)
    plan = sampled_frames(N, GOP, k)
    part = extract_stream(stream, size=S, gop=GOP, residual_frames=plan)
    a = clip_inputs(full["frame_types"], full["residuals"], full["motion_vectors"], k)["residuals"]
    b = clip_inputs(part["frame_types"], part["residuals"], part["motion_vectors"], k)["residuals"]
    assert a.shape == (k, S, S, 3) and np.abs(a).sum() > 0
    np.testing.assert_array_equal(a, b)
    assert all(t % GOP for t in plan)


def test_extract_file_passes_the_selection_through(stream, tmp_path):
    from data_pipelines.compressed import extract_file

    path = tmp_path / "clip.mp4"
    path.write_bytes(stream)
    full = extract_file(path, size=S, gop=GOP)
    part = extract_file(path, size=S, gop=GOP, residual_frames=[3])
    assert not part.meta["reencoded"]
    np.testing.assert_array_equal(part.residuals[0, 2], full.residuals[0, 2])
    assert np.abs(full.residuals).sum() > np.abs(part.residuals).sum() > 0
    np.testing.assert_array_equal(part.motion_vectors, full.motion_vectors)
