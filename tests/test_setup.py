"""The two-command setup holds together: packaging, conda file, Makefile, CI, README."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import ROOT


def _names(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req)
        out[m.group(1).lower().replace("_", "-")] = m.group(2).replace(" ", "")
    return out


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    pip_items = [ln.strip()[2:] for ln in env_lines if re.match(r"\s+- [A-Za-z]", ln) and "python" not in ln
                 and ln.strip() not in ("- pip", "- pip:", "- conda-forge")]
    listed = _names([item for item in pip_items if not item.startswith("-e")])
    assert listed == wanted, "environment.yml and pyproject.toml list different packages or versions"


def test_makefile_has_the_course_targets_and_ci_calls_make_test():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("course", "test", "release", "lectures", "autograde"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks the `{target}` target"
    assert "pip install -q -e \".[dev]\"" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_puts_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    first_command = re.search(r"make (\w+)", readme)
    assert first_command and first_command.group(1) == "course"
    assert readme.index("make course") < readme.index("make test") < readme.index("jupyter lab")


def test_console_command_lists_the_trainers():
    out = subprocess.run([sys.executable, "-m", "sslcourse.cli", "train", "--help"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "simclr" in out.stdout and "bert" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "sslcourse.cli", "train", "nope"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "unknown method 'nope'" in bad.stderr


def test_nbgrader_config_points_at_solutions_and_exercises_with_a_cell_timeout():
    from traitlets.config import Config

    c = Config()
    exec((ROOT / "nbgrader_config.py").read_text(), {"get_config": lambda: c})
    assert c.CourseDirectory.source_directory == "solutions"
    assert c.CourseDirectory.release_directory == "exercises"
    assert 0 < c.ExecutePreprocessor.timeout <= 120
