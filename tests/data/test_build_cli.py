"""``fer-jax build``: exit codes, the corrupt-input report, and the message for a bad manual_dir."""

import os

from builder_helpers import FakeBackbone, corrupt, face_frames, write_images

import fer_jax.identity as identity
from fer_jax.commands.build import main


def test_build_cli_rafdb_reports_corrupt_and_exit_codes(tmp_path, capsys, monkeypatch):
    # the CLI resolves the backbone from its spec; the cheap fake stands in (see builder_helpers)
    monkeypatch.setattr(identity, "get_backbone", lambda spec: FakeBackbone())
    root = tmp_path / "manual"
    write_images(str(root / "basic" / "Image" / "aligned"), face_frames(4, 0),  # train_00003: the carved val
                 [f"{s}_aligned.jpg" for s in ("train_00001", "train_00002", "train_00003", "test_00001")])
    (root / "basic" / "EmoLabel").mkdir(parents=True)
    (root / "basic" / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 1\ntrain_00002.jpg 4\ntrain_00003.jpg 2\ntest_00001.jpg 7\n")
    corrupt(str(root / "basic" / "Image" / "aligned" / "train_00002_aligned.jpg"))
    data = str(tmp_path / "tfds")
    assert main(["rafdb", "--data-dir", data, "--manual-dir", str(root), "--size", "32"]) == 1
    err = capsys.readouterr().err
    assert "1 input(s) skipped" in err and "train_00002_aligned.jpg" in err and "cannot decode image" in err
    assert os.path.isdir(os.path.join(data, "rafdb", "size32_dlib", "1.1.0"))
    # the still-image dataset reads back through the input pipeline as `image` batches
    from data_pipelines.input_pipeline import make_iterator

    cfg = dict(dataset="rafdb", data_dir=data, size=32, identity_backbone="dlib", batch_size=2, eval_batch_size=2)
    (batch,) = list(make_iterator(cfg, "train", seed=0, process_index=0, process_count=1, train=False))
    assert batch["image"].shape == (2, 32, 32, 3) and batch["identity_embedding"].shape == (2, 8)
    assert list(batch["mask"]) == [1.0, 0.0] and list(batch["label"]) == [0, 0]  # 1 example + 1 padding row

    assert main(["ckplus", "--data-dir", data, "--manual-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Download instructions" in err
    assert main(["nosuchset", "--data-dir", data]) == 2
    assert main(["rafdb", "--data-dir", data, "--size", "30"]) == 2
    assert main(["rafdb", "--data-dir", data, "--store-frames"]) == 2  # stills have no frames to store
    assert main(["rafdb", "--data-dir", data, "--protocol", "folds"]) == 2  # BP4D's choice of protocol only
    assert "still-image" in capsys.readouterr().err
