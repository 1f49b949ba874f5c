"""The hooks that run `udev-drift preview` before a transaction: written by install for
each package manager the target has, removed by uninstall, and each runs as its package
manager runs it.

apt's hook runs under the real apt-get in tests/preview/test_apt_hook.py, dnf's plugin
under the real dnf 4 in tests/preview/test_dnf_hook.py. yum is not on this Debian
machine: its plugin is run here in Python 2.7 (where it is installed), against stand-ins
of the few yum names it touches, with the objects yum hands it (a transaction whose
members name their local .rpm files); dnf's the same way, for its outcomes one by one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from checker.install.hooks import (
    APT_PREVIEW_HOOK,
    DNF_PREVIEW_CONF,
    DNF_PREVIEW_NAME,
    YUM_PREVIEW_CONF,
    YUM_PREVIEW_PLUGIN,
)
from tests.install.conftest import make_target, snapshot

# A pyenv shim on PATH may lead nowhere: the interpreters themselves are looked for.
PYTHON2 = next((p for p in ("/usr/bin/python2.7", "/usr/local/bin/python2.7",
                            os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python2.7"))
                if os.access(p, os.X_OK)), None)
DNF_DIR = "usr/lib/python3.9/site-packages/dnf-plugins"


def fake_udev_drift(tmp_path: Path, status: int) -> Path:
    binary = tmp_path / f"bin{status}" / "udev-drift"
    binary.parent.mkdir(parents=True)
    binary.write_text(f'#!/bin/sh\necho "$@" > {binary.parent}/called\nexit {status}\n')
    binary.chmod(0o755)
    return binary


def test_install_writes_every_preview_hook_and_uninstall_takes_them_away(udev_drift, tmp_path: Path,
                                                                          fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["systemd", "apt", "dnf", "yum"])
    (root / DNF_DIR).mkdir(parents=True)
    before = snapshot(root)
    assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
    for path in (APT_PREVIEW_HOOK, YUM_PREVIEW_PLUGIN, YUM_PREVIEW_CONF, DNF_PREVIEW_CONF,
                 f"/{DNF_DIR}/{DNF_PREVIEW_NAME}"):
        assert (root / path.lstrip("/")).is_file(), path
    assert f'DPkg::Tools::Options::{fake_binary}::Version "3";' in (root / APT_PREVIEW_HOOK.lstrip("/")).read_text()
    assert udev_drift("uninstall", "--root", root).status == 0
    assert snapshot(root) == before


def test_dnf_without_a_plugin_directory_gets_no_preview_plugin(udev_drift, tmp_path: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["systemd", "dnf"])
    assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
    assert not (root / DNF_PREVIEW_CONF.lstrip("/")).exists()


YUM_STANDIN = """\
class PluginYumExit(Exception):
    pass
TYPE_CORE = 0
"""

YUM_RUN = """\
import sys
sys.path.insert(0, {standins!r})
import imp
plugin = imp.load_source('udev_drift_preview', {plugin!r})

class Po(object):
    def __init__(self, name, path):
        self.name = name
        self.path = path
    def localPkg(self):
        return self.path

class Member(object):
    def __init__(self, state, name, path):
        self.ts_state = state
        self.po = Po(name, path)

class TsInfo(object):
    # an update (its old version 'ud'), an erase, an install
    def getMembers(self):
        return [Member('u', 'vendor-disks', {rpm!r}), Member('ud', 'vendor-disks', '/var/cache/yum/old.rpm'),
                Member('e', 'xen-udev', '/var/cache/yum/xen-udev.rpm')]

class Conf(object):
    installroot = '/'

class Conduit(object):
    def getTsInfo(self):
        return TsInfo()
    def getConf(self):
        return Conf()
    def info(self, level, text):
        print(text)

try:
    plugin.pretrans_hook(Conduit())
    print('went on')
except plugin.PluginYumExit as error:
    print('refused: %s' % error)
"""


def run_yum_plugin(tmp_path: Path, udev_drift, binary: Path) -> str:
    if PYTHON2 is None:
        pytest.skip("no Python 2.7 here: the yum plugin's syntax was not checked in the Python yum runs")
    root = make_target(tmp_path / "host", ["yum"])
    assert udev_drift("install", "--root", root, "--binary", binary).status == 0
    standins = tmp_path / "standins"
    (standins / "yum").mkdir(parents=True)
    (standins / "yum" / "__init__.py").write_text("")
    (standins / "yum" / "plugins.py").write_text(YUM_STANDIN)
    rpm = tmp_path / "vendor.rpm"
    rpm.write_bytes(b"")
    script = tmp_path / "run.py"
    script.write_text(YUM_RUN.format(standins=str(standins), plugin=str(root / YUM_PREVIEW_PLUGIN.lstrip("/")),
                                     rpm=str(rpm)))
    done = subprocess.run([PYTHON2, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_yum_plugin_compiles_in_python_2_7(tmp_path: Path, udev_drift, fake_binary: Path) -> None:
    if PYTHON2 is None:
        pytest.skip("no Python 2.7 here")
    root = make_target(tmp_path / "host", ["yum"])
    assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
    done = subprocess.run([PYTHON2, "-m", "py_compile", str(root / YUM_PREVIEW_PLUGIN.lstrip("/"))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_yum_plugin_refuses_when_the_preview_says_block(tmp_path: Path, udev_drift) -> None:
    binary = fake_udev_drift(tmp_path, 1)
    out = run_yum_plugin(tmp_path, udev_drift, binary)
    assert out.startswith("refused: udev-drift preview: the update would take away")
    assert (binary.parent / "called").read_text().split() == ["preview", "--hook", "--remove", "xen-udev",
                                                              str(tmp_path / "vendor.rpm")]


def test_the_yum_plugin_lets_the_update_go_on_otherwise(tmp_path: Path, udev_drift) -> None:
    for status in (0, 2, 3):
        binary = fake_udev_drift(tmp_path / str(status), status)
        (tmp_path / str(status)).mkdir(exist_ok=True)
        assert run_yum_plugin(tmp_path / str(status), udev_drift, binary).strip() == "went on"


def test_the_yum_plugin_skips_a_removed_udev_drift(tmp_path: Path, udev_drift) -> None:
    assert run_yum_plugin(tmp_path, udev_drift, tmp_path / "gone" / "udev-drift").strip() == "went on"


DNF_STANDIN = """\
class Plugin(object):
    def __init__(self, base=None, cli=None):
        self.base = base
"""

DNF_RUN = """\
import importlib.util, sys
sys.path.insert(0, {standins!r})
spec = importlib.util.spec_from_file_location("udev_drift_preview", {plugin!r})
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
import dnf.exceptions

class Pkg:
    def __init__(self, name, path):
        self.name, self.path = name, path
    def localPkg(self):
        return self.path

class Transaction:
    # an upgrade's old version is in remove_set too: only xen-udev is removed from the host
    install_set = [Pkg("vendor-disks", {rpm!r})]
    remove_set = [Pkg("vendor-disks", None), Pkg("xen-udev", None)]

class Conf:
    installroot = "/"

class Base:
    transaction = Transaction()
    conf = Conf()

try:
    plugin.UdevDriftPreview(Base()).pre_transaction()
    print("went on")
except dnf.exceptions.Error as error:
    print("refused: %s" % error)
"""


@pytest.mark.parametrize("status,said", [(1, "refused"), (0, "went on"), (3, "went on")])
def test_the_dnf_plugin(tmp_path: Path, udev_drift, status: int, said: str) -> None:
    binary = fake_udev_drift(tmp_path, status)
    root = make_target(tmp_path / "host", ["dnf"])
    (root / DNF_DIR).mkdir(parents=True)
    assert udev_drift("install", "--root", root, "--binary", binary).status == 0
    standins = tmp_path / "standins"
    (standins / "dnf").mkdir(parents=True)
    (standins / "dnf" / "__init__.py").write_text(DNF_STANDIN)
    (standins / "dnf" / "exceptions.py").write_text("class Error(Exception):\n    pass\n")
    rpm = tmp_path / "vendor.rpm"
    rpm.write_bytes(b"")
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(DNF_RUN).format(standins=str(standins),
                                                      plugin=str(root / DNF_DIR / DNF_PREVIEW_NAME), rpm=str(rpm)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(said)
    assert (binary.parent / "called").read_text().split() == ["preview", "--hook", "--remove", "xen-udev", str(rpm)]


def test_uninstall_takes_away_the_last_previews_metrics(udev_drift, tmp_path: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["systemd", "apt"])
    assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
    textfile = root / "var/lib/prometheus/node-exporter/udev_drift_preview.prom"
    textfile.write_text("udev_drift_preview_safe 1\n")
    result = udev_drift("uninstall", "--root", root)
    assert result.status == 0 and not textfile.exists()
    assert "udev_drift_preview.prom" in result.out
