"""The wheel, installed in a fresh venv, runs every command as the source tree does.

The other tests run against the source tree (an editable install), where a package left
out of pyproject.toml still imports; here the console script runs from a wheel built from
a copy of the tree, outside it, so a missing package or package file fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "xenserver-host"
POLICY = REPO / "policies" / "xenserver-local-sata.yaml"
PIP_TIMEOUT = 600


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `udev-drift` script of a venv holding only the wheel; its dependencies come from
    the test venv's site-packages (a path in a .pth file: no network, no resolver)."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("checker", "exporters", "policies"):
        shutil.copytree(REPO / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--disable-pip-version-check", "-w", str(work / "dist"), str(source)],
                           capture_output=True, text=True, timeout=PIP_TIMEOUT)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (work / "dist").glob("udev_drift-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-index", "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, timeout=PIP_TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    return env_dir / "bin" / "udev-drift"


CASES = [
    ["--help"], ["--version"],
    ["check", "--root", str(EXAMPLE)],
    ["check", "--root", str(EXAMPLE), "--format", "json"],
    ["check", "--root", str(EXAMPLE), "--repair", "--dry-run"],
    ["validate", str(POLICY)],
    ["policies"], ["policies", "xenserver-local-sata"],
    ["schema"],
    ["serve", "--root", str(EXAMPLE), "--interval", "0"],  # usage error, after importing serve
    ["suggest", str(POLICY), "--format", "json"],
    ["check", "--help"], ["serve", "--help"], ["install", "--help"], ["uninstall", "--help"],
    ["suggest", "--help"], ["validate", "--help"], ["policies", "--help"], ["schema", "--help"],
]


def run(command: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", CASES, ids=[" ".join(case)[:60] for case in CASES])
def test_the_installed_wheel_answers_as_the_tree_does(installed: Path, tmp_path: Path, args: list[str]) -> None:
    from_tree = run([sys.executable, "-m", "checker", *args], tmp_path)  # the editable install
    from_wheel = run([str(installed), *args], tmp_path)
    assert "internal error" not in from_wheel[2] and "Traceback" not in from_wheel[2], from_wheel[2]
    assert from_wheel == from_tree


def test_install_and_uninstall_run_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    root = tmp_path / "host"
    root.mkdir()  # no systemd in the tree: install writes the cron entry
    status, out, err = run([str(installed), "install", "--root", str(root), "--binary", "/usr/local/bin/udev-drift"],
                           tmp_path)
    assert status == 0, err
    assert (root / "etc/cron.d/udev-drift").is_file()
    assert (root / "var/lib/udev-drift/install-manifest.json").is_file()
    status, out, err = run([str(installed), "uninstall", "--root", str(root)], tmp_path)
    assert status == 0, err
    assert not (root / "etc/cron.d/udev-drift").exists()


def test_the_wheel_holds_no_top_level_exporters(installed: Path) -> None:
    site = installed.parent.parent / "lib"
    assert not list(site.glob("python*/site-packages/exporters"))
    assert list(site.glob("python*/site-packages/checker/exporters/oneshot.py"))
