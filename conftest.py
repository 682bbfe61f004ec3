"""Fixtures and hooks shared by test folders across the tree (each method keeps its tests in its own folder)."""

import os
from pathlib import Path

import jax
import pytest

# One persistent XLA compilation cache per test session, shared by the xdist workers and by every
# subprocess a test starts (they inherit the environment): a step that several tests, workers or
# subprocesses compile is compiled once. The controller (or a run without xdist) picks the directory
# in pytest_configure, before anything is compiled, and exports it; xdist's workers are started after
# that with its environment and keep the controller's directory.
_SESSION_CACHE_ENV = "FER_JAX_TEST_COMPILE_CACHE"
# Compile-time flags for the test session (and its subprocesses, which inherit XLA_FLAGS): LLVM at -O0
# without its expensive passes halves XLA's CPU compile time (a tiny IFER run: 36-39 s -> 20 s, measured
# 2026-12-07), and compiling is most of what the tests spend; the tests' programs are tiny, so the
# slower code costs little. Every comparison a test makes is between runs under the same flags.
_TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
_JAX_CACHE_ENV = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}


@pytest.hookimpl(trylast=True)  # after pytest's tmpdir plugin has made config._tmp_path_factory
def pytest_configure(config):
    cache_dir = os.environ.get(_SESSION_CACHE_ENV) if hasattr(config, "workerinput") else None
    if not cache_dir:
        cache_dir = str(config._tmp_path_factory.getbasetemp() / "jax_compile_cache")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    os.environ[_SESSION_CACHE_ENV] = cache_dir
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache_dir  # subprocesses read these when they import jax
    os.environ.update(_JAX_CACHE_ENV)
    flags = os.environ.get("XLA_FLAGS", "").split()
    os.environ["XLA_FLAGS"] = " ".join([*flags, *(f for f in _TEST_XLA_FLAGS if f not in flags)])
    # this process imported jax (above) before the variables were set
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects by marker
def pytest_collection_modifyitems(config, items):
    """A test that spawns several Python processes is in the slow tier too (``-m "not slow"`` skips it)."""
    for item in items:
        if item.get_closest_marker("multiprocess") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def persistent_compile_cache():
    """The session's persistent compilation cache directory (every test already uses it; see pytest_configure)."""
    return Path(os.environ[_SESSION_CACHE_ENV])
