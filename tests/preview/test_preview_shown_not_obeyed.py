"""What a package names (its name, version, file names) is shown by preview's text
report, which a package manager's hook prints to the admin's terminal: a hostile package
cannot make that terminal obey it (retitle, clear, rewrite a line)."""

from __future__ import annotations

from pathlib import Path

from tests.preview.builders import Spec, build_rpm

ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\r"


def test_a_packages_names_are_shown_with_escapes(udev_drift, xen, tmp_path: Path) -> None:
    rules = f"/usr/lib/udev/rules.d/99-{ESCAPES}.rules"
    package = build_rpm(Spec(f"evil{ESCAPES}", f"1{ESCAPES}-1", {rules: 'KERNEL=="sdb", SYMLINK="disk/x"\n'}),
                        tmp_path / "evil-1-1.noarch.rpm")
    for hook in ((), ("--hook",)):
        result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", *hook, package)
        shown = result.out + result.err
        assert "installs" in shown, shown
        assert not any(c in shown for c in "\x1b\x07\r"), repr(shown)
        assert "evil\\x1b]0;PWNED\\x07\\x1b[2J\\r" in shown


def test_a_hooks_warning_about_a_bad_package_is_shown_with_escapes(udev_drift, xen, tmp_path: Path) -> None:
    # the one line a hook says when the preview fails carries the package's own text
    bad = tmp_path / f"bad{ESCAPES}.deb"
    bad.write_bytes(b"not a package at all")
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", "--hook", bad)
    assert result.status == 0 and "the update goes on" in result.err
    assert not any(c in result.err for c in "\x1b\x07\r"), repr(result.err)
