"""The README stays true: its commands are the ones CI runs, its CLI and API names exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mavtools as mt

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, flags=re.S)]


def test_the_two_commands_are_install_and_run_then_install_and_test():
    first, second = fenced_bash_blocks()[:2]
    assert first == "python3 -m pip install -e . && python3 -m mavtools lab"
    assert "'.[test]'" in second and second.endswith("python3 -m pytest")


def test_the_virtual_environment_form_comes_before_the_two_commands():
    venv = "python3 -m venv .venv && . .venv/bin/activate"
    assert f"```sh\n{venv}\n```" in README
    assert README.index(venv) < README.index(fenced_bash_blocks()[0])
    assert "externally-managed-environment" in README


def test_the_report_option_is_shown():
    assert "--show-code" in README and "kernel-only" in README


def test_ci_runs_exactly_the_readme_test_command():
    second = fenced_bash_blocks()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command_lines = [ln for ln in ci.splitlines() if ln and not ln.startswith(("#", " "))]
    assert command_lines[-1] == second
    # CI proves the virtual-environment form too, on a clean clone
    assert command_lines[-2] == "python3 -m venv .venv && . .venv/bin/activate"


def test_makefile_targets_match_the_readme_commands():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    first, second = fenced_bash_blocks()[:2]
    assert first.replace("python3", "$(PYTHON)") in makefile
    assert second.replace("python3", "$(PYTHON)") in makefile


def test_every_cli_command_in_the_readme_exists():
    shown = set(re.findall(r"^mavtools ([a-z-]+)", README, flags=re.M))
    assert shown >= {"fetch", "cache", "serve-samples", "report", "lab"}
    help_text = subprocess.run(
        [sys.executable, "-m", "mavtools", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in shown:
        assert re.search(rf"^\s+{command}\b", help_text, flags=re.M), command


def test_every_api_name_in_the_readme_exists():
    for name in set(re.findall(r"`mt\.([A-Za-z][A-Za-z_]*)", README)):
        views = ("decision", "distributions", "style", "tables", "timeseries", "widgets")
        assert name in mt.__all__ or name in views, name
        assert getattr(mt, name) is not None, name  # a view module is imported when first used


def test_architecture_names_every_module_of_the_package():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "mavtools"
    named = set(re.findall(r"`([A-Za-z0-9_/]+(?:\.py|/))`", page))
    modules = {
        str(path.relative_to(package)).removesuffix("__init__.py") or "__init__.py"
        for path in package.rglob("*.py")
    }
    assert "api/" in modules and "frame.py" in modules  # packages by folder, modules by file
    assert not modules - named, sorted(modules - named)
    # and names no module that is gone (tests/ and mavtools/ paths are named as such)
    package_paths = {
        name.removesuffix("__init__.py") or "__init__.py"
        for name in named
        if not name.startswith(("tests/", "mavtools/", "docs/"))
    }
    assert not package_paths - modules, sorted(package_paths - modules)
