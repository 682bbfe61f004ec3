"""``.ci/run`` runs the README's test command verbatim (the fast tier), then the slow tier, and the README's
first command's installation alone in a second virtualenv; it parses (``bash -n``)."""

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
    assert 'python3 -m pip install -q -e ".[faces]" \\' in lines  # the second virtualenv: only .[faces]
    assert "-eq 5" in ci  # "no tests collected" is a failure


def test_ci_script_parses():
    done = subprocess.run(["bash", "-n", os.path.join(REPO, ".ci", "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
