import pytest
from mifer_helpers import make_batch


@pytest.fixture
def batch():
    return make_batch()
