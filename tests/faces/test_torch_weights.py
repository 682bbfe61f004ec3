"""The state-dict reader MTCNN's weights go through: numpy arrays equal to torch's, and nothing else runs."""

import os
import pickle

import numpy as np
import pytest

from data_pipelines.faces.mtcnn_weights import weights_dir
from data_pipelines.faces.torch_weights import WeightsFormatError, load_state_dict


def test_legacy_and_zip_files_read_as_torch_reads_them(tmp_path):
    import torch

    path = os.path.join(weights_dir(), "rnet.pt")  # facenet-pytorch ships the legacy (pre-zip) layout
    want = torch.load(path)
    got = load_state_dict(path)
    assert list(got) == list(want)
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v.numpy())
    mixed = {"a": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(), "b": torch.tensor([1, 2], dtype=torch.int64)}
    torch.save(mixed, tmp_path / "new.pt")  # the zip layout, a transposed (strided) view, an int tensor
    got = load_state_dict(tmp_path / "new.pt")
    np.testing.assert_array_equal(got["a"], mixed["a"].numpy())
    assert got["b"].dtype == np.int64 and got["b"].tolist() == [1, 2]


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("payload", [Boom(), {"w": Boom()}])
def test_a_file_naming_other_code_is_refused_without_running_it(tmp_path, payload, monkeypatch):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:  # the legacy layout's head, then a pickle that calls os.system
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}, payload):
            pickle.dump(obj, f, protocol=2)
    ran = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))  # would record a call, had one been made
    with pytest.raises(WeightsFormatError, match=r"evil\.pt: refused to load (posix|os|nt)\.system"):
        load_state_dict(path)
    assert ran == []


def test_other_files_are_typed_errors_naming_the_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsFormatError, match="junk.pt: "):
        load_state_dict(junk)
    listing = tmp_path / "list.pt"
    with open(listing, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, [1, 2], []):
            pickle.dump(obj, f, protocol=2)
    with pytest.raises(WeightsFormatError, match="list.pt: not a state dict of named tensors"):
        load_state_dict(listing)
