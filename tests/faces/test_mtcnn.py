"""MTCNN in JAX against facenet-pytorch's own MTCNN (the weights' home), and the parts it is built from.

The reference runs with torch (the ``bench`` extra); facenet-pytorch imports torchvision's ``batched_nms``,
and the torchvision wheel on PyPI does not import beside this torch build, so ``torchvision_stub`` stands in
for that one function (pure torch, torchvision's semantics).
"""

import os

import numpy as np
import pytest
from torchvision_stub import install  # tests/faces is on sys.path (pytest's rootdir-less test modules)

from data_pipelines.common.sources import read_image
from data_pipelines.faces import mtcnn_nets
from data_pipelines.faces.mtcnn import shared
from data_pipelines.faces.mtcnn_weights import weights_dir


def reference():
    install()
    import torch
    from facenet_pytorch import MTCNN

    torch.set_num_threads(1)
    return MTCNN(keep_all=True, select_largest=False)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def compare(image: np.ndarray) -> dict:
    """Ours vs facenet's on one image: face counts, worst box IoU, landmark and score differences."""
    boxes, probs, points = reference().detect(image, landmarks=True)
    faces = shared().detect(image)[0]
    n = 0 if boxes is None else len(boxes)
    out = {"ref": n, "ours": len(faces), "iou": 1.0, "landmarks_px": 0.0, "score": 0.0}
    for b, p, lm in zip(boxes if n else [], probs if n else [], points if n else []):
        k = int(np.argmax([iou(b, f) for f in faces.boxes]))
        out["iou"] = min(out["iou"], iou(b, faces.boxes[k]))
        out["landmarks_px"] = max(out["landmarks_px"], float(np.abs(lm - faces.landmarks[k]).max()))
        out["score"] = max(out["score"], abs(float(p) - float(faces.scores[k])))
    return out


def check(got: dict) -> None:
    assert got["ours"] == got["ref"], got
    assert got["iou"] >= 0.9 and got["landmarks_px"] <= 2.0 and got["score"] <= 1e-3, got


def test_parity_on_the_astronaut():
    from skimage import data

    check(compare(data.astronaut()[::2, ::2].copy()))  # 256 px: one face, a small compile


@pytest.mark.slow
@pytest.mark.parametrize("name", ["multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg",
                                  "45-m7-di-ph.jpg", "0-f15-hao-ph.jpg", "free-mountain-vector-01.jpg"])
def test_parity_on_real_photos(feat_data, name):
    """Measured: the same faces, IoU 1.0000, landmarks and scores equal to 1e-3 px / 1e-6 (faces/README.md)."""
    check(compare(read_image(os.path.join(feat_data, name))))


def test_a_batch_gives_each_frames_own_faces():
    from skimage import data

    a = data.astronaut()[::4, ::4].copy()  # 128 px
    b = np.ascontiguousarray(a[:, ::-1])
    both, aa, bb = (shared().detect(np.stack(p)) for p in ((a, b), (a, a), (b, b)))  # one compiled shape
    assert [len(f) for f in both] == [1, 1]
    np.testing.assert_allclose(both[0].boxes, aa[0].boxes, atol=1e-3)  # a frame's faces do not depend on
    np.testing.assert_allclose(both[1].boxes, bb[1].boxes, atol=1e-3)  # the other frames of its batch
    one, two = both[0].boxes[0], both[1].boxes[0]
    assert abs((one[0] + one[2]) + (two[0] + two[2]) - 2 * 128) < 4  # the mirrored face, mirrored


def test_stage_one_lists_have_static_shapes():
    flat, noise = np.full((1, 64, 96, 3), 128, np.uint8), np.random.default_rng(0).integers(0, 255, (1, 64, 96, 3))
    a, b = shared().candidates_of(flat), shared().candidates_of(noise.astype(np.uint8))
    assert [x.shape for x in a] == [x.shape for x in b] and a[0].shape[:2] == a[1].shape
    assert not a[2].any()  # a flat frame: every slot masked


def test_area_resampling_and_ceil_pooling_match_torch():
    import jax.numpy as jnp
    import torch

    x = np.random.default_rng(1).random((1, 37, 53, 3)).astype(np.float32)
    want = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2), size=(14, 27), mode="area")
    np.testing.assert_allclose(mtcnn_nets.resample(x, (14, 27)), want.permute(0, 2, 3, 1).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(mtcnn_nets.resample(jnp.asarray(x), (14, 27))),
                               want.permute(0, 2, 3, 1).numpy(), atol=1e-5)
    pooled = torch.nn.MaxPool2d(3, 2, ceil_mode=True)(torch.tensor(x).permute(0, 3, 1, 2))
    np.testing.assert_allclose(np.asarray(mtcnn_nets._pool(jnp.asarray(x), 3, 2)), pooled.permute(0, 2, 3, 1).numpy())


def test_loaded_networks_use_every_tensor_of_the_checkpoints():
    from data_pipelines.faces.torch_weights import load_state_dict

    state = load_state_dict(os.path.join(weights_dir(), "onet.pt"))
    net = mtcnn_nets.load_net(mtcnn_nets.ONet, state, "onet.pt")
    np.testing.assert_array_equal(np.asarray(net.conv1.kernel[...]), state["conv1.weight"].transpose(2, 3, 1, 0))
    state["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="onet.pt: unused tensors"):
        mtcnn_nets.load_net(mtcnn_nets.ONet, state, "onet.pt")
