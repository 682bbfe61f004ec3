"""The tf.data input pipeline on a toy dataset whose tensors say which clip and P-frame they hold."""

import json

import numpy as np
import pytest
import toy_dataset as toy

from data_pipelines import augment as augment_lib
from data_pipelines.input_pipeline import make_iterator
from data_pipelines.tf_compat import import_tf

tf = import_tf()


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("toy"))
    toy.build_toy(d)
    return d


def clip_of(batch):
    """Clip number of each row, read from the residual payload (channel 0 = n / 255; max survives shifts)."""
    return np.rint(batch["residuals"][..., 0].max(axis=(1, 2, 3)) * 255).astype(int)


def test_batch_contract(toy_dir):
    b = next(make_iterator(toy.input_cfg(toy_dir), "train", seed=0, process_index=0, process_count=1))
    s, k = toy.SIZE, 3
    want = {"residuals": (4, k, s, s, 3), "motion_vectors": (4, k, s // 4, s // 4, 2), "iframe": (4, s, s, 3),
            "apex_frame": (4, s, s, 3), "has_apex": (4,), "identity_embedding": (4, 8), "label": (4,),
            "identity": (4,), "mask": (4,)}
    assert {k_: v.shape for k_, v in b.items()} == want
    assert b["label"].dtype == np.int32 and b["identity"].dtype == np.int32
    assert all(b[x].dtype == np.float32 for x in want if x not in ("label", "identity"))
    n = clip_of(b)
    np.testing.assert_array_equal(b["label"], n % 3)
    np.testing.assert_array_equal(b["identity"], n)  # subjects s000..s021 sorted -> their index
    np.testing.assert_array_equal(b["has_apex"], n % 2)
    assert 0 <= b["residuals"].min() and b["residuals"].max() <= 1


def test_tsn_eval_takes_segment_centres_and_onset_reaches_apex(toy_dir):
    it = make_iterator(toy.input_cfg(toy_dir, segments=3), "val", seed=0, process_index=0, process_count=1,
                       train=False)
    for b in it:
        for row, n in enumerate(clip_of(b)):
            ex = toy.toy_example(n)
            flat = [g * toy.P + p for g in range(len(ex["frame_types"]))
                    for p in range(toy.P) if ex["frame_types"][g, p + 1] == 2]
            m = len(flat)
            bounds = [(j * m // 3, (j + 1) * m // 3) for j in range(3)]  # 3 equal segments of the m P-frames
            centres = [flat[min(a + max(b_ - a, 1) // 2, m - 1)] for a, b_ in bounds]
            got = np.rint(b["residuals"][row, :, 0, 0, 1] * 255).astype(int)
            np.testing.assert_array_equal(got, centres)
            g_mid = centres[1] // toy.P
            assert np.rint(b["iframe"][row, 0, -1, 1] * 255) == g_mid  # the middle segment's GOP I-frame
    onset = make_iterator(toy.input_cfg(toy_dir, segments=4, segment_mode="onset"), "val", seed=0,
                          process_index=0, process_count=1, train=False)
    b = next(onset)
    for row, n in enumerate(clip_of(b)):
        got = np.rint(b["residuals"][row, :, 0, 0, 1] * 255).astype(int)
        assert got[0] == 0 and np.all(np.diff(got) >= 0)
        ex = toy.toy_example(n)
        last_flat = (len(ex["frame_types"]) - 1) * toy.P + int((ex["frame_types"][-1] == 2).sum()) - 1
        assert got[-1] == last_flat  # the apex (odd n) is the last frame here; otherwise the last P-frame


def test_train_epochs_deterministic_and_exact_resume(toy_dir):
    cfg = toy.input_cfg(toy_dir, augment=True, shuffle_buffer=8)
    run = make_iterator(cfg, "train", seed=3, process_index=0, process_count=1)
    batches = [next(run) for _ in range(12)]  # 22 examples, batch 4: 5 batches per epoch
    epoch0 = np.concatenate([clip_of(b) for b in batches[:5]])
    assert len(set(epoch0)) == 20  # no example twice within an epoch
    assert not np.array_equal(epoch0, np.concatenate([clip_of(b) for b in batches[5:10]]))  # reshuffled
    again = make_iterator(cfg, "train", seed=3, process_index=0, process_count=1)
    for b in batches[:3]:
        nb = next(again)
        for key in b:
            np.testing.assert_array_equal(b[key], nb[key])
    cached = make_iterator(dict(cfg, cache=True), "train", seed=3, process_index=0, process_count=1)
    cached_epochs = [next(cached) for _ in range(10)]
    for b, c in zip(batches[:5], cached_epochs[:5]):  # in-memory cache: the same first epoch
        np.testing.assert_array_equal(b["residuals"], c["residuals"])
    cached_epoch1 = np.concatenate([clip_of(c) for c in cached_epochs[5:]])
    assert len(set(cached_epoch1)) == 20 and not np.array_equal(cached_epoch1, epoch0)  # reshuffled from cache
    other = make_iterator(cfg, "train", seed=4, process_index=0, process_count=1)
    assert not np.array_equal(clip_of(next(other)), clip_of(batches[0]))
    for stop in (3, 7):  # resume mid-epoch and in the next epoch
        first = make_iterator(cfg, "train", seed=3, process_index=0, process_count=1)
        for _ in range(stop):
            next(first)
        state = json.loads(json.dumps(first.get_state()))
        resumed = make_iterator(cfg, "train", seed=3, process_index=0, process_count=1)
        resumed.set_state(state)
        for want in batches[stop:stop + 2]:
            got = next(resumed)
            for key in want:
                np.testing.assert_array_equal(want[key], got[key], err_msg=f"{key} after resume at {stop}")


def test_eval_two_processes_sees_every_example_once(toy_dir):
    seen, counts = [], []
    for p in range(2):
        batches = list(make_iterator(toy.input_cfg(toy_dir, eval_batch_size=6), "val", seed=0, process_index=p,
                                     process_count=2, train=False))
        counts.append(len(batches))
        for b in batches:
            assert b["mask"].shape == (3,)
            seen += list(clip_of(b)[b["mask"] == 1])
    assert counts[0] == counts[1]
    assert sorted(seen) == list(range(100, 113))


def test_augment_flip_and_shift_consistent_across_streams():
    s = 32
    x = np.zeros((2, s, s, 3), np.float32)
    x[:, 12:16, 12:16, 0] = 1.0  # a patch filling MV cell (3, 3), away from the borders
    mv = np.zeros((2, s // 4, s // 4, 2), np.float32)
    mv[:, 3, 3] = (3.0, -1.0)  # the motion of that cell
    batch = {"residuals": tf.constant(x), "motion_vectors": tf.constant(mv), "iframe": tf.constant(x[0]),
             "frames": tf.constant(np.stack([x[0]] * 3))}  # decoded frames [T, S, S, 3]
    flips = shifts = 0
    for i in range(40):
        out = {k: v.numpy() for k, v in augment_lib.augment(batch, tf.constant([i, 1], tf.int64)).items()}
        ys, xs = np.nonzero(out["residuals"][0, ..., 0])
        cy, cx = ys.min() // 4, xs.min() // 4  # the patch's MV cell after the transform
        assert (ys.max() - ys.min(), xs.max() - xs.min()) == (3, 3)  # whole, moved by a multiple of 4
        np.testing.assert_array_equal(out["iframe"][..., 0] > 0.5, out["residuals"][0, ..., 0] > 0.5)
        v = out["motion_vectors"][0, cy, cx]
        flipped = v[0] == -3.0
        assert v[1] == -1.0 and v[0] in (3.0, -3.0)
        assert np.count_nonzero(out["motion_vectors"][0, ..., 0]) == 1  # the vector moved with its pixels
        np.testing.assert_array_equal(out["residuals"][0], out["residuals"][1])  # same for every time step
        for t in range(3):  # every decoded frame moves as the I-frame does
            np.testing.assert_array_equal(out["frames"][t], out["iframe"])
        flips += flipped
        shifts += (cy, cx) not in ((3, 3), (3, 4))
    assert 0 < flips < 40 and shifts > 0


def test_augment_shift_zero_only_flips():
    """``input.augment_shift = 0`` (the STT configs: tracked face crops) leaves every pixel in place or mirrors it."""
    x = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    flips = 0
    for i in range(20):
        out = augment_lib.augment({"frames": tf.constant(x)}, tf.constant([i, 1], tf.int64), 0)["frames"].numpy()
        flipped = not np.array_equal(out, x)
        np.testing.assert_array_equal(out, x[:, :, ::-1] if flipped else x)
        flips += flipped
    assert 0 < flips < 20
