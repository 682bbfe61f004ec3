"""Every manual-download builder documents its protocol and fails on a missing, empty or incomplete
manual_dir with a ManualDirError naming the dataset, the reason and the download instructions."""

import pytest
from builder_helpers import FakeBackbone

from data_pipelines.common.manual import ManualDirError
from data_pipelines.common.registry import BUILDERS, builder_class
from data_pipelines.tf_compat import import_tfds

MANUAL = sorted(set(BUILDERS) - {"synthface"})


@pytest.mark.parametrize("name", MANUAL)
def test_manual_dir_errors(name, tmp_path):
    tfds = import_tfds()
    cls = builder_class(name)
    assert cls.name == name and cls.PROTOCOL and cls.REQUIRED and cls.LABELS
    assert cls.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()
    empty = tmp_path / "empty"
    empty.mkdir()
    partial = tmp_path / "partial"
    first = cls.REQUIRED[0].split("|")[0]
    (partial / first).mkdir(parents=True)  # only the first required entry
    cases = [(None, "does not exist or is empty"), (tmp_path / "missing", "does not exist"),
             (empty, "empty")]
    if len(cls.REQUIRED) > 1:
        cases.append((partial, "has no"))
    for manual, reason in cases:
        b = cls(data_dir=str(tmp_path / "tfds"), config=cls.make_config(size=32), backbone=FakeBackbone())
        with pytest.raises(ManualDirError) as err:
            b.download_and_prepare(download_config=tfds.download.DownloadConfig(
                manual_dir=None if manual is None else str(manual)))
        msg = str(err.value)
        assert name in msg and reason in msg and "Download instructions" in msg
        assert cls.MANUAL_DOWNLOAD_INSTRUCTIONS.strip().splitlines()[0].strip() in msg
