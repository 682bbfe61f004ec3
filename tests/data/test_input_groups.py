"""Feature groups of the input pipeline on SynthFace / RAF-DB fixtures built with the real builders:
decoded frames, AU windows, unlabeled batches, missing-feature errors, the default contract unchanged,
and a copied data dir + identity encoder still finding its build."""

import shutil

import input_fixtures as fx
import numpy as np
import pytest

from data_pipelines.groups import MissingFeatureError
from data_pipelines.input_pipeline import make_iterator
from data_pipelines.settings import ConfigError, validate_input

ONE = dict(process_index=0, process_count=1)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    source = str(root / "source")
    fx.build_synth(str(root / "tfds"), source, store_frames=False)
    fx.build_synth(str(root / "tfds"), source, store_frames=True)
    fx.build_stills(str(root / "tfds"), str(root / "raf"))
    return str(root / "tfds")


def decoded_sources(data_dir: str, split: str, n: int) -> np.ndarray:
    """[n clips, T, S, S, 3] float frames of the fixture's videos as the builder decodes them."""
    from data_pipelines.common.sources import read_video_frames

    root = data_dir.rsplit("/", 1)[0]
    return np.stack([read_video_frames(f"{root}/source/videos/{split}_{i:03d}.mp4", fx.SIZE)[0]
                     for i in range(n)]).astype(np.float32) / 255


def frames_spec(t):
    return {"frames": (t, fx.SIZE, fx.SIZE, 3), "label": ()}


def test_frames_segments_of_consecutive_frames(builds):
    cfg = fx.input_cfg(builds, segments=4, frames_per_segment=2)
    (b, *_) = list(make_iterator(cfg, "val", seed=0, train=False, spec=frames_spec(8), **ONE))
    assert set(b) == {"frames", "label", "mask"}
    assert b["frames"].shape == (4, 8, fx.SIZE, fx.SIZE, 3) and b["frames"].dtype == np.float32
    assert 0.0 <= b["frames"].min() and b["frames"].max() <= 1.0
    colour = b["frames"].mean(axis=(1, 2, 3)).argmax(-1)  # each class has its own background colour
    np.testing.assert_array_equal(colour, b["label"])
    # eval takes each segment's centred run: frames 1,2 | 5,6 | 9,10 | 13,14 of 16; brightness grows
    # every frame, so each shown frame is closest to its own source frame
    src = decoded_sources(builds, "val", 6)
    for row in range(4):
        err = np.abs(b["frames"][row][:, None, None] - src[None]).mean(axis=(3, 4, 5))  # [8 shown, clip, frame]
        clip = err.min(2).sum(0).argmin()  # the clip this row shows
        np.testing.assert_array_equal(err[:, clip].argmin(1), [1, 2, 5, 6, 9, 10, 13, 14])
    train = make_iterator(cfg, "train", seed=0, train=True, spec=frames_spec(8), **ONE)
    assert next(train)["frames"].shape == (4, 8, fx.SIZE, fx.SIZE, 3)


def test_au_window_targets_and_mask(builds):
    spec = {"frames": (10, fx.SIZE, fx.SIZE, 3), "residuals": (10, fx.SIZE, fx.SIZE, 3),
            "au_intensity": (10, fx.N_AUS), "au_mask": (10, fx.N_AUS), "label": ()}
    cfg = fx.input_cfg(builds, window=10)
    (b, *_) = list(make_iterator(cfg, "val", seed=0, train=False, spec=spec, **ONE))
    assert b["au_intensity"].shape == b["au_mask"].shape == (4, 10, fx.N_AUS)
    assert b["frames"].shape == b["residuals"].shape == (4, 10, fx.SIZE, fx.SIZE, 3)
    for row, label in enumerate(b["label"]):  # the centred window of 16 frames: frames 3..12
        want = fx.au_truth(int(label))[3:13]
        np.testing.assert_array_equal(b["au_intensity"][row], want)
        np.testing.assert_array_equal(b["au_mask"][row], (want >= 0).astype(np.float32))
    assert (b["au_mask"][:, [1, 6]] == 0).all()  # frames 4 and 9 are not coded
    assert (b["residuals"][:, 9] == 0).all()  # frame 12 is an I-frame (GOP 12): no residual
    assert np.abs(b["residuals"][:, :9]).sum() > 0
    train = make_iterator(cfg, "train", seed=1, train=True, spec=spec, **ONE)
    tb = next(train)
    assert tb["au_intensity"].shape == (4, 10, fx.N_AUS)
    np.testing.assert_array_equal(tb["au_mask"], (tb["au_intensity"] >= 0).astype(np.float32))


def test_unlabeled_frames_resume_exactly(builds):
    spec = {"frames": (4, fx.SIZE, fx.SIZE, 3)}
    cfg = fx.input_cfg(builds, segments=4)
    it = make_iterator(cfg, "train", seed=3, train=True, spec=spec, **ONE)
    first = [next(it) for _ in range(2)]
    assert set(first[0]) == {"frames", "mask"}  # no label, identity or compressed keys
    state = it.get_state()
    after = [next(it) for _ in range(3)]  # crosses the epoch boundary (12 clips / 4 = 3 batches)
    resumed = make_iterator(cfg, "train", seed=3, train=True, spec=spec, **ONE)
    resumed.set_state(state)
    for a, r in zip(after, [next(resumed) for _ in range(3)]):
        np.testing.assert_array_equal(a["frames"], r["frames"])
    again = make_iterator(cfg, "train", seed=3, train=True, spec=spec, **ONE)
    np.testing.assert_array_equal(next(again)["frames"], first[0]["frames"])


def test_missing_features_are_typed_errors_naming_dataset_and_key(builds):
    cfg = fx.input_cfg(builds, builder_config="size32_gop12_accumulate_dlib_lab_i40c2f32s0")  # no frames
    with pytest.raises(MissingFeatureError, match=r"'synthface'.*'frames'.*--store-frames") as e:
        make_iterator(cfg, "train", seed=0, train=True, spec=frames_spec(2), **ONE)
    assert (e.value.dataset, e.value.key) == ("synthface", "frames")
    raf = fx.input_cfg(builds, dataset="rafdb")
    with pytest.raises(MissingFeatureError, match=r"'rafdb'.*'au_intensity'"):
        make_iterator(raf, "train", seed=0, train=True, spec={"image": (), "au_intensity": ()}, **ONE)
    with pytest.raises(MissingFeatureError, match=r"'rafdb'.*'frames'.*still-image"):
        make_iterator(raf, "train", seed=0, train=True, spec={"frames": ()}, **ONE)
    with pytest.raises(MissingFeatureError, match="'optical_flow'"):
        make_iterator(fx.input_cfg(builds), "train", seed=0, train=True, spec={"optical_flow": ()}, **ONE)
    with pytest.raises(ConfigError, match="input.segmnets.*did you mean 'segments'"):
        validate_input(dict(fx.input_cfg(builds), segmnets=3))


def test_still_images_and_default_contract_unchanged(builds):
    raf = fx.input_cfg(builds, dataset="rafdb")
    b = next(make_iterator(raf, "train", seed=0, train=True, spec={"image": (), "label": ()}, **ONE))
    assert set(b) == {"image", "label", "mask"} and b["image"].shape == (4, fx.SIZE, fx.SIZE, 3)
    np.testing.assert_array_equal(b["image"].mean(axis=(1, 2)).argmax(-1), b["label"])
    # no spec: the compressed contract, identical from a build with or without stored frames, and
    # identical to asking for the same keys by spec
    plain = fx.input_cfg(builds, builder_config="size32_gop12_accumulate_dlib_lab_i40c2f32s0", augment=True)
    framed = dict(plain, builder_config="size32_gop12_accumulate_dlib_frames_lab_i40c2f32s0")
    default = [next(make_iterator(c, "train", seed=2, train=True, **ONE)) for c in (plain, framed)]
    keys = {"residuals", "motion_vectors", "iframe", "apex_frame", "has_apex", "identity_embedding", "label",
            "identity", "au_intensity", "mask"}
    assert set(default[0]) == set(default[1]) == keys
    by_spec = next(make_iterator(plain, "train", seed=2, train=True, spec=dict.fromkeys(keys - {"mask"}), **ONE))
    for k in keys:
        np.testing.assert_array_equal(default[0][k], default[1][k], err_msg=k)
        np.testing.assert_array_equal(default[0][k], by_spec[k], err_msg=k)


def test_copied_data_dir_and_encoder_still_find_the_build(tmp_path):
    enc = tmp_path / "run" / "identity_encoder"
    enc.mkdir(parents=True)
    (enc / "identity_encoder.json").write_text('{"dim": 8}')
    (enc / "params.bin").write_bytes(bytes(range(256)))
    data = str(tmp_path / "run" / "tfds")
    fx.build_synth(data, str(tmp_path / "source"), store_frames=False, identity_backbone=f"flax:{enc}",
                   per_split={"train": 4, "val": 2})
    shutil.copytree(tmp_path / "run", tmp_path / "moved")
    shutil.rmtree(tmp_path / "run")
    moved = tmp_path / "moved"
    cfg = fx.input_cfg(str(moved / "tfds"), identity_backbone=f"flax:{moved / 'identity_encoder'}")
    b = next(make_iterator(cfg, "train", seed=0, train=True, spec={"residuals": (), "label": ()}, **ONE))
    assert b["residuals"].shape[0] == 4
    (tmp_path / "moved" / "identity_encoder" / "params.bin").write_bytes(b"other weights")
    with pytest.raises(FileNotFoundError, match="no built dataset 'synthface'"):
        make_iterator(cfg, "train", seed=0, train=True, **ONE)
