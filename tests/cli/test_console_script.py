"""The installed ``fer-jax`` console script (setup.cfg's entry point, run as a user runs it): usage without
a command (exit 2), ``--help`` and ``--version`` (exit 0), an unknown command (exit 2, on stderr)."""

import importlib.metadata
import os
import shutil
import subprocess
import sys

import pytest

from fer_jax import __version__
from fer_jax.cli import SUBCOMMANDS


def _script() -> str:
    """The venv's ``fer-jax`` next to this interpreter (else the one on PATH); it must be installed."""
    here = os.path.join(os.path.dirname(sys.executable), "fer-jax")
    path = here if os.path.isfile(here) else shutil.which("fer-jax")
    assert path, "the fer-jax console script is not installed (pip install -e .)"
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_script(), *args], capture_output=True, text=True, timeout=120)


def test_no_command_prints_usage_and_exits_2():
    done = _run()
    assert done.returncode == 2
    assert done.stdout.startswith("usage: fer-jax <command> [options]")
    assert all(f"  {name}" in done.stdout for name in SUBCOMMANDS)


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_lists_every_command_and_exits_0(flag):
    done = _run(flag)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "usage: fer-jax <command> [options]"
    listed = [line.split()[0] for line in lines if line.startswith("  ")]
    assert listed == list(SUBCOMMANDS)
    assert "Run 'fer-jax <command> --help' for a command's options." in lines


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_exits_0(flag):
    done = _run(flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fer-jax {__version__}"
    assert __version__ == importlib.metadata.version("fer-jax")  # the package's version is setup.cfg's


def test_unknown_command_exits_2_on_stderr():
    done = _run("trian", "--workdir", "x")
    assert done.returncode == 2
    assert done.stderr.startswith("fer-jax: unknown command 'trian'") and "usage: fer-jax" in done.stderr
    assert done.stdout == ""
