"""Installing the project prints nothing but errors: a new user's first minutes should not
scroll past build-backend warnings (the README's two commands install it on first use)."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

import bridge

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv's pip, upgraded as scripts/_env.sh does (a new pip shows the build
    backend's warnings that an old one hides)."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return python


@pytest.mark.parametrize("editable", [True, False], ids=["editable", "wheel"])
def test_installing_prints_no_warning(fresh_pip: Path, editable: bool) -> None:
    target = ["-e", str(REPO)] if editable else [str(REPO)]
    done = subprocess.run(
        [fresh_pip, "-m", "pip", "install", "--quiet", "--no-deps", *target],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "deprecat" not in output.lower(), output


def test_the_installed_package_is_the_project(fresh_pip: Path) -> None:
    found = subprocess.run(
        [fresh_pip, "-c", "import bridge; print(bridge.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert found.stdout.strip() == bridge.__version__
