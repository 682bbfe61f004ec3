"""Fixtures for tests/data; the helpers live in ``builder_helpers``."""

import pytest


@pytest.fixture
def data_dir(tmp_path):
    """An empty TFDS data_dir."""
    return str(tmp_path / "tfds")
