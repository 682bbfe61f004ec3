"""``.ci/run`` runs the README's first command's installation alone in its own virtualenv (quick demo, IFER
steps), then the README's test command verbatim (the fast tier) and the slow tier, whose demo test reads
the first virtualenv's demo; it parses (``bash -n``)."""

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands() -> list[str]:
    text = open(os.path.join(REPO, "README.md")).read()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("    #")[0].strip() for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_verbatim_then_the_slow_tier():
    install, tests = _readme_commands()
    assert tests.endswith('python3 -m pytest -n 2 -q -m "not slow"')
    ci = open(os.path.join(REPO, ".ci", "run")).read()
    lines = [line.strip() for line in ci.splitlines()]
    assert tests in lines
    assert lines.index(tests) < lines.index("python3 -m pytest -n 2 -q -m slow")
    assert install.startswith('python3 -m pip install -e ".[faces]"')
    faces = lines.index('python3 -m pip install -q -e ".[faces]" \\')  # its own virtualenv: only .[faces]
    demo = next(i for i, line in enumerate(lines) if "fer-jax demo --quick --workdir" in line)
    handed = next(i for i, line in enumerate(lines) if 'FER_JAX_QUICK_DEMO_WORKDIR="$tmp/demo"' in line)
    assert faces < demo < handed < lines.index("python3 -m pytest -n 2 -q -m slow")
    assert "-eq 5" in ci  # "no tests collected" is a failure


def test_ci_script_parses():
    done = subprocess.run(["bash", "-n", os.path.join(REPO, ".ci", "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
