"""The launch scripts (launch/*.sh: local multi-process, SLURM, TPU pod) parse: ``bash -n`` on each."""

import glob
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(REPO, "launch", "*.sh")))


def test_the_launch_scripts_are_there():
    assert [os.path.basename(p) for p in SCRIPTS] == ["local_multiprocess.sh", "slurm.sh", "tpu_pod.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_launch_script_syntax(script):
    done = subprocess.run(["bash", "-n", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with open(script) as f:
        assert f.readline().startswith("#!")
