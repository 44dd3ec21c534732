"""The wheel ships what a user needs: every module, ``py.typed``, the licence, the version
the package reports, and no runtime dependency.

The wheel is built offline (no build isolation) from a copy of the project in a temporary
directory, so the build leaves nothing in the working tree; both go away afterwards.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

import tachikoma_metrics

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "tachikoma_metrics"


@dataclass(frozen=True)
class Wheel:
    path: Path
    names: frozenset[str]
    metadata: Message
    dist_info: str


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _check_build_backend() -> None:
    """Building without isolation uses the installed setuptools: it must be one that the
    project's ``[build-system] requires`` accepts, or the test says how to get one."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    wanted = re.search(r'requires = \["setuptools>=([\d.]+)"\]', pyproject)
    assert wanted is not None, "pyproject.toml: expected requires = ['setuptools>=N']"
    have = installed_version("setuptools")
    if _release(have) < _release(wanted.group(1)):
        pytest.fail(
            f"setuptools {have} is installed but the build needs setuptools>={wanted.group(1)}:"
            f" run `python -m pip install 'setuptools>={wanted.group(1)}'`"
        )


@pytest.fixture(scope="module")
def wheel() -> Iterator[Wheel]:
    """The wheel built from a copy of the project (pyproject, README, LICENSE, src)."""
    _check_build_backend()
    with tempfile.TemporaryDirectory(prefix="tachikoma-wheel-") as temp:
        project, out = Path(temp) / "project", Path(temp) / "dist"
        project.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(ROOT / name, project / name)
        shutil.copytree(
            ROOT / "src",
            project / "src",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
        build = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "wheel", str(project)),
                *("--no-deps", "--no-build-isolation", "--no-index"),
                *("--disable-pip-version-check", "-w", str(out)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert build.returncode == 0, build.stdout + build.stderr
        [path] = out.glob("*.whl")
        with zipfile.ZipFile(path) as archive:
            names = frozenset(archive.namelist())
            [dist_info] = {n.split("/")[0] for n in names if ".dist-info/" in n}
            metadata = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
                archive.read(f"{dist_info}/METADATA")
            )
        yield Wheel(path, names, metadata, dist_info)


def test_version_is_the_packages(wheel: Wheel) -> None:
    """The wheel's version (metadata and file name) is ``tachikoma_metrics.__version__``,
    which comes from the one place pyproject reads it."""
    version = tachikoma_metrics.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert wheel.metadata["Version"] == version
    assert wheel.path.name == f"tachikoma_metrics-{version}-py3-none-any.whl"
    assert wheel.dist_info == f"tachikoma_metrics-{version}.dist-info"


def test_licence_is_shipped(wheel: Wheel) -> None:
    """The Apache-2.0 text is in the wheel's .dist-info, and the metadata says so."""
    licence = f"{wheel.dist_info}/licenses/LICENSE"
    assert licence in wheel.names
    with zipfile.ZipFile(wheel.path) as archive:
        shipped = archive.read(licence)
    assert shipped == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in shipped
    assert b"Version 2.0, January 2004" in shipped
    assert b"END OF TERMS AND CONDITIONS" in shipped
    assert wheel.metadata["License-Expression"] == "Apache-2.0"
    assert wheel.metadata.get_all("License-File") == ["LICENSE"]


def test_every_module_and_py_typed_are_shipped(wheel: Wheel) -> None:
    """Every module of the source tree is in the wheel (a subpackage without
    ``__init__.py`` would be left out), and ``py.typed`` with them; nothing else is."""
    sources = {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert "tachikoma_metrics/__init__.py" in sources
    shipped = {n for n in wheel.names if not n.startswith(wheel.dist_info + "/")}
    assert shipped == sources | {"tachikoma_metrics/py.typed"}


def test_no_runtime_dependencies(wheel: Wheel) -> None:
    """Installing the wheel pulls in nothing: every requirement belongs to the test extra."""
    requirements = wheel.metadata.get_all("Requires-Dist") or []
    assert requirements, "the test extra is expected in the metadata"
    for requirement in requirements:
        assert requirement.endswith('; extra == "test"'), requirement
    assert wheel.metadata.get_all("Provides-Extra") == ["test"]


def test_the_wheel_imports_on_its_own(wheel: Wheel, tmp_path: Path) -> None:
    """Unpacked alone on the path, the wheel imports every one of its modules and reports
    its version: nothing it needs was left in the source tree."""
    with zipfile.ZipFile(wheel.path) as archive:
        archive.extractall(tmp_path)
    code = (
        "import importlib, pkgutil, sys, tachikoma_metrics as m\n"
        "assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
        "for info in pkgutil.walk_packages(m.__path__, 'tachikoma_metrics.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(m.__version__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{tachikoma_metrics.__version__}\n"
