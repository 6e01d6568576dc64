"""`make install` on a fresh copy of the project, as a user's first command: what it checks, what it
installs, and that it never pip-installs into the system Python (PEP 668 forbids it on Debian)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import copy_project

# The interpreter this environment was made from: what a user's system Python is.
SYSTEM_PYTHON = Path(sys._base_executable)

GUARD = """#!/bin/sh
# {name} as found on PATH: the real one, except that installing with pip is refused.
echo "{name} $*" >> "{log}"
case " $* " in
  *" -m pip "*|*" -m ensurepip "*) echo "refused: {name} $*" >> "{log}"; exit 1 ;;
esac
exec "{real}" "$@"
"""
REFUSE = """#!/bin/sh
echo "refused: {name} $*" >> "{log}"
exit 1
"""


def clean_path() -> str:
    """PATH without this virtualenv: make must find the system's tools, as on a fresh machine."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)


def fresh_env(path: str) -> dict[str, str]:
    """This process's environment without what this virtualenv or a Kedro session put in it."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    return env | {"PATH": path, "PIP_REQUIRE_VIRTUALENV": "1"}  # pip refuses outside a venv


def make(project: Path, *args: str, path: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", *args],
        cwd=project,
        env=fresh_env(path),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def guarded_bin(folder: Path, log: Path) -> Path:
    """python3.11, python3, python: the system's, refusing `-m pip`; pip, pip3: refusing."""
    folder.mkdir()
    for name in ("python3.11", "python3", "python"):
        script = GUARD.format(name=name, log=log, real=SYSTEM_PYTHON)
        (folder / name).write_text(script)
    for name in ("pip", "pip3", "pip3.11"):
        (folder / name).write_text(REFUSE.format(name=name, log=log))
    for script in folder.iterdir():
        script.chmod(0o755)
    return folder


@pytest.mark.slow
def test_install_on_a_fresh_copy_uses_only_virtualenvs(project_root: Path, tmp_path: Path) -> None:
    project = copy_project(project_root, tmp_path / "project")
    log = tmp_path / "calls.log"
    guard = guarded_bin(tmp_path / "bin", log)
    path = f"{guard}{os.pathsep}{clean_path()}"
    # The guard works: the system Python refuses to pip-install.
    refused = subprocess.run([guard / "python3", "-m", "pip", "install", "uv"], check=False)
    assert refused.returncode != 0
    log.unlink()

    start = time.perf_counter()
    installed = make(project, "install", path=path)
    seconds = time.perf_counter() - start
    assert installed.returncode == 0, installed.stdout + installed.stderr
    print(f"make install on a fresh copy: {seconds:.0f} s")

    calls = log.read_text()
    assert "refused" not in calls, calls
    assert "python3.11 -m venv --clear .uv" in calls  # the guarded interpreter was the one used
    code = "import sys, cat_dog_classifier as p; print(sys.version_info[:2], p.__file__)"
    where = subprocess.run(
        [project / ".venv/bin/python", "-c", code],
        cwd=tmp_path,
        env=fresh_env(path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.strip() == f"(3, 11) {project / 'src/cat_dog_classifier/__init__.py'}"
    assert (project / ".uv/bin/uv").exists()
    assert (project / "web/vendor/tf-core.min.js").exists()

    # Installed: a second `make install` runs no installer.
    again = make(project, "install", path=path)
    assert again.returncode == 0
    assert "uv sync" not in again.stdout
    assert "npm ci" not in again.stdout


def test_install_names_the_python_to_install(project_root: Path, tmp_path: Path) -> None:
    project = copy_project(project_root, tmp_path / "project")
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && echo Python 3.10.12 || exit 1\n')
    old.chmod(0o755)
    result = make(project, "install", f"PYTHON={old}", path=clean_path())
    assert result.returncode != 0
    assert f"needs Python 3.11 with its venv module; found: Python 3.10.12 ({old})" in result.stdout
    assert "sudo apt install python3.11 python3.11-venv" in result.stdout
    assert not (project / ".venv").exists()
    assert not (project / ".uv").exists()


def test_install_names_the_node_to_install(project_root: Path, tmp_path: Path) -> None:
    project = copy_project(project_root, tmp_path / "project")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/node").write_text("#!/bin/sh\necho v16.20.2\n")
    (tmp_path / "bin/node").chmod(0o755)
    result = make(project, "install", path=f"{tmp_path / 'bin'}{os.pathsep}{clean_path()}")
    assert result.returncode != 0
    assert "needs Node.js 18 or newer with npm; found: node v16.20.2" in result.stdout
    assert not (project / ".venv").exists()
