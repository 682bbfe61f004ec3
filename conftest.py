"""Fixtures shared by test folders across the tree (each method keeps its tests in its own folder)."""

import jax
import pytest


@pytest.fixture(scope="module")
def persistent_compile_cache(tmp_path_factory):
    """A module whose runs compile the same step gets a persistent compilation cache: XLA compiles it once."""
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    old = {k: getattr(jax.config, k) for k in keys}
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    yield
    for k, v in old.items():
        jax.config.update(k, v)
