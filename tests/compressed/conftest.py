"""Fixtures for the compressed-domain tests; the video helpers live in compressed_videos.py."""

import pytest
from compressed_videos import carphone_path


@pytest.fixture(scope="session")
def carphone() -> str:
    return carphone_path()

