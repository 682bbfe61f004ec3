"""The session's persistent XLA compilation cache (conftest.py): one directory for the whole test run, used
by this process and inherited by the subprocesses tests start, and it really receives compiled programs."""

import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp


def _entries(d) -> set[str]:
    return set(os.listdir(d))


def test_jit_writes_to_the_session_cache(persistent_compile_cache):
    d = str(persistent_compile_cache)
    assert os.path.isdir(d) and os.environ["JAX_COMPILATION_CACHE_DIR"] == d
    assert jax.config.jax_compilation_cache_dir == d
    before = _entries(d)
    unique = float(time.time_ns() % 1_000_003)  # a literal of the program: a key no other test compiled
    jax.jit(lambda x: jnp.cos(x) * 3.0 + unique)(jnp.ones(7)).block_until_ready()
    assert any(name.startswith("jit_") for name in _entries(d) - before)


def test_a_subprocess_writes_to_the_same_cache(persistent_compile_cache):
    d = str(persistent_compile_cache)
    before = _entries(d)
    code = ("import time, jax, jax.numpy as jnp; print(jax.config.jax_compilation_cache_dir); "
            "u = float(time.time_ns() % 1_000_003); jax.jit(lambda x: jnp.sin(x) - u)(jnp.ones(5)).block_until_ready()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == d
    assert any(name.startswith("jit_") for name in _entries(d) - before)
