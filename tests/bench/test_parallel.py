"""Process-parallel decoding: the Producer keeps order and bounds, and ``predict --workers`` gives the same
records as the in-process loop (folders expanded, a broken file reported, the rest predicted)."""

import os
import time

import numpy as np
import pytest

from data_pipelines.compressed.parallel import Producer, WorkerError, bare_decode, decode_compact
from fer_jax.commands.predict import expand_inputs
from fer_jax.core.method import Feature, ServingSpec
from fer_jax.serving import predict


def _slow_square(x: int) -> int:
    time.sleep(0.01 * (x % 3))  # later items may finish first
    if x == 5:
        raise ValueError("five")
    return x * x


def test_producer_keeps_order_bounds_in_flight_and_reports_errors():
    with Producer(2, depth=3) as prod:
        assert prod.depth == 3
        out = list(prod.imap(_slow_square, range(8), return_exceptions=True))
        assert [o for i, o in enumerate(out) if i != 5] == [i * i for i in range(8) if i != 5]
        assert isinstance(out[5], Exception) and "ValueError: five" in str(out[5])
        consumed = []

        def items():
            for i in range(10):
                consumed.append(i)
                yield i

        it = prod.imap(_slow_square, items(), return_exceptions=True)
        next(it)
        assert len(consumed) <= prod.depth + 1  # bounded: not the whole input read ahead
        with pytest.raises(WorkerError, match="ValueError: five"):  # typed, with the worker's message
            list(prod.imap(_slow_square, range(8)))
    assert list(Producer(0).imap(_slow_square, [2, 3])) == [4, 9]  # in-process
    with Producer(2, chunk=3) as prod:  # several items per task: same results, same order
        out = list(prod.imap(_slow_square, range(8), return_exceptions=True))
        assert [o for i, o in enumerate(out) if i != 5] == [i * i for i in range(8) if i != 5]


def test_workers_return_compact_arrays(tmp_path):
    from data_pipelines.synthface import generate

    generate(str(tmp_path), identities=1, clips_per_identity=1, regime="lab", frames=26, size=32,
             pool_identities=0, workers=1)
    data = open(sorted((tmp_path / "videos").iterdir())[0], "rb").read()
    with Producer(2) as prod:
        n, pack = list(prod.imap(bare_decode, [data])) + list(
            prod.imap(_compact_sampled, [data]))
    assert n == 26
    assert pack["cur"].shape == (2, 48, 32) and pack["refs"].shape == (3, 48, 32)  # 2 residual frames, 3 GOPs
    assert pack["records"].shape[1] == 40 and len(pack["record_frame"]) == len(pack["records"]) > 0


def _compact_sampled(data: bytes) -> dict:
    return decode_compact(data, 32, 12, residual_frames=[5, 18])


def _fake_model(batch: dict) -> np.ndarray:
    """Deterministic 'probabilities' from the residuals: any change in the inputs shows."""
    x = batch["residuals"].reshape(len(batch["residuals"]), -1)
    logits = np.stack([x[:, i::7].mean(1) * 50 for i in range(7)], 1)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_predict_workers_equal_in_process(tmp_path, capsys):
    from data_pipelines.synthface import generate

    generate(str(tmp_path / "clips"), identities=1, clips_per_identity=1, regime="lab", frames=26, size=32,
             pool_identities=0, workers=1)
    (tmp_path / "clips" / "videos" / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    os.makedirs(tmp_path / "empty")
    spec = ServingSpec({"residuals": Feature((2, 16, 16, 3))}, "compressed", "probabilities",
                       tuple("abcdefg"), {"size": 16, "segments": 2, "gop": 12, "mode": "accumulate"})
    paths = expand_inputs([str(tmp_path / "clips" / "videos"), str(tmp_path / "empty")])
    assert len(paths) == 9 and paths[-1].endswith("empty") and paths[0].endswith("broken.mp4")
    many, failed = predict.predict_many(paths, spec, _fake_model, tuple("abcdefg"), None, None, 2)
    assert failed == 2 and "fer-jax predict: 7 files" in capsys.readouterr().err
    one, failed_one = predict.predict_many(paths, spec, _fake_model, tuple("abcdefg"), None, None, 1)  # in-process
    assert failed_one == 2 and "fer-jax predict: 7 files" in capsys.readouterr().err
    assert [r["status"] for r in many] == [r["status"] for r in one]
    assert "not a readable media file" in many[0]["error"] and "no video or image files" in many[-1]["error"]
    assert "not a readable media file" in one[0]["error"] and "no video or image files" in one[-1]["error"]
    for a, b in zip(many, one):
        if a["status"] == "ok":
            assert a["input"] == b["input"] and a["probabilities"] == b["probabilities"]
            assert a["timeline"] == b["timeline"] and a["frames"] == 26


def test_prepare_device_backend_gives_the_same_inputs(tmp_path):
    from data_pipelines.synthface import generate
    from fer_jax.serving.prepare import prepare

    generate(str(tmp_path), identities=1, clips_per_identity=1, regime="lab", frames=30, size=32,
             pool_identities=0, workers=1)
    path = str(sorted((tmp_path / "videos").iterdir())[0])
    spec = ServingSpec({"residuals": Feature((3, 32, 32, 3))}, "compressed", "probabilities",
                       tuple("abcdefg"), {"size": 32, "segments": 3, "gop": 12, "mode": "accumulate"})
    a, b = prepare(path, spec), prepare(path, spec, backend="jax")
    np.testing.assert_array_equal(a.inputs["residuals"], b.inputs["residuals"])
    np.testing.assert_array_equal(a.windows["residuals"], b.windows["residuals"])
    assert a.timeline == b.timeline and np.abs(a.inputs["residuals"]).max() > 0
