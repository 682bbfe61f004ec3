"""DevicePrefetcher: same batches in the same order as the iterator, each paired with the iterator
state after it (so a checkpoint records the consumed position, not the prefetched one)."""

import time

import numpy as np
import pytest

from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.core.parallel import make_mesh
from fer_jax.train.prefetch import DevicePrefetcher


def _iterator():
    return ArrayIterator({"id": np.arange(12), "label": np.zeros(12, np.int32)}, 4, seed=3)


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_prefetched_batches_and_states_match_plain_iteration(depth):
    plain = _iterator()
    expected = []
    for _ in range(7):
        ids = next(plain)["id"]
        expected.append((ids, plain.get_state()))
    source = _iterator()
    pre = DevicePrefetcher(source, make_mesh(), depth=depth)
    try:
        for ids, state in expected:
            batch, got_state = next(pre)
            np.testing.assert_array_equal(np.asarray(batch["id"]), ids)
            assert got_state == state
        if depth:  # the thread runs ahead of what was consumed
            deadline = time.time() + 10
            while source.get_state() == expected[-1][1] and time.time() < deadline:
                time.sleep(0.01)
            assert source.get_state() != expected[-1][1]
    finally:
        pre.close()


def test_errors_of_the_iterator_reach_the_consumer():
    class Broken:
        def __next__(self):
            raise OSError("disk gone")

        def get_state(self):
            return {}

    pre = DevicePrefetcher(Broken(), make_mesh(), depth=2)
    with pytest.raises(OSError, match="disk gone"):
        next(pre)
    pre.close()
