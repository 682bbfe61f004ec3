"""The TFDS Beam path (``FerBuilder.SUPPORTS_BEAM``: DFEW, AffectNet) on Apache Beam's DirectRunner gives
the same examples as the local build of the same fixture tree. The same command scales out on Dataflow,
Flink or Spark by changing the runner (docs/distributed.md)."""

import csv
import os

import numpy as np
import pytest
from builder_helpers import SIZE, FakeBackbone, read_split, write_images

from data_pipelines.affectnet import AffectNet
from data_pipelines.common import builder as builder_lib
from data_pipelines.dfew import Dfew
from data_pipelines.tf_compat import import_tfds

beam = pytest.importorskip("apache_beam", reason="the `beam` extra (apache-beam) is not installed")
tfds = import_tfds()


def _dfew_tree(root) -> None:
    """Two folds of DFEW's official layout, 3 clips each (one listed clip has no frames: skipped)."""
    for k in (1, 2):
        rows = []
        for j in range(3):
            vid = 3 * (k - 1) + j + 1
            name = f"{vid:05d}"
            if vid != 5:
                write_images(str(root / "Clip" / "clip_224x224" / name), _frames(5, vid),
                             [f"{name}_{t:05d}.jpg" for t in range(5)])
            rows.append((vid, 1 + vid % 7))
        d = root / "EmoLabel_DataSplit" / "test(single-labeled)"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"set_{k}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("video_name", "label"), *rows])


def _frames(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, size=(10, 12, 3)).repeat(4, 0).repeat(4, 1)
    return np.stack([np.roll(base, t, axis=1) for t in range(n)]).astype(np.uint8)


def _affectnet_tree(root) -> None:
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    for split, fname in (("train", "training.csv"), ("validation", "validation.csv")):
        rows = [header] if split == "train" else []
        for i, code in enumerate((0, 3, 6, 1)):
            img = np.random.default_rng(i).integers(0, 255, size=(48, 48, 3)).astype(np.uint8)
            write_images(str(root / "Manually_Annotated_Images" / str(i + 1)), img[None], [f"{split}_{i}.jpg"])
            rows.append(f"{i + 1}/{split}_{i}.jpg,4,4,40,40,\"1;2\",{code},0.1,-0.2\n")
        (root / "Manually_Annotated_file_lists").mkdir(parents=True, exist_ok=True)
        (root / "Manually_Annotated_file_lists" / fname).write_text("".join(rows))


def _build(cls, manual_dir, data_dir, beam_args=None):
    """``beam_args``: None builds locally; else the runner comes from these pipeline options, as on a
    cluster (docs/distributed.md: only ``--runner=...`` and its options change)."""
    config = cls.make_config(size=SIZE, identity_backbone="dlib")
    # a factory (the class itself), not an instance: Beam workers make their own embedder
    b = cls(data_dir=str(data_dir), config=config, backbone_factory=FakeBackbone)
    options = None if beam_args is None else beam.options.pipeline_options.PipelineOptions(beam_args)
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir),
                                                                        beam_options=options))
    return b


def _examples(builder, split: str) -> dict[str, dict]:
    return {e["clip_id"]: e for e in read_split(builder, split)}


@pytest.mark.parametrize("cls, make_tree, splits", [(Dfew, _dfew_tree, ("fold0", "fold1")),
                                                     (AffectNet, _affectnet_tree, ("train", "validation"))],
                         ids=["dfew", "affectnet"])
def test_direct_runner_build_equals_local_build(tmp_path, monkeypatch, cls, make_tree, splits):
    assert cls.SUPPORTS_BEAM
    root = tmp_path / "manual"
    make_tree(root)
    local = _build(cls, root, tmp_path / "local")
    marks = tmp_path / "beam_marks"
    marks.mkdir()
    real = builder_lib._beam_examples

    def traced(job):  # pickled into the Beam workers: it leaves one file per example it extracts
        for key, example in real(job):
            open(os.path.join(str(marks), example["clip_id"]), "w").close()
            yield key, example

    monkeypatch.setattr(builder_lib, "_beam_examples", traced)
    direct = _build(cls, root, tmp_path / "beam", beam_args=["--runner=DirectRunner", "--direct_num_workers=2"])
    assert sorted(os.listdir(marks)) == sorted(e for s in splits for e in _examples(local, s))  # Beam did the work
    for split in splits:
        want, got = _examples(local, split), _examples(direct, split)
        assert want and sorted(got) == sorted(want), split
        assert local.info.splits[split].num_examples == direct.info.splits[split].num_examples == len(want)
        for clip_id, ex in want.items():
            assert sorted(got[clip_id]) == sorted(ex), clip_id
            for key, value in ex.items():
                np.testing.assert_array_equal(got[clip_id][key], value, err_msg=f"{split} {clip_id} {key}")
    assert direct.info.metadata["subjects"] == local.info.metadata["subjects"]
