"""What apt's DPkg::Pre-Install-Pkgs (protocol 3) gives the hook on standard input, read as
apt writes it: the configuration's values are %-quoted (a space is %20), and each
package line is eight fields, then the .deb's path as it is, spaces and all. The input
below is what apt-get 2.6 wrote for a .deb in "/tmp/r oot/my debs" with
DPkg::Options::=--root="/tmp/r oot/tree" (captured with `cat` as the hook)."""

from __future__ import annotations

import io

from checker.preview.config import apt_packages

CAPTURED = (
    "VERSION 3\n"
    "APT::Install-Recommends=1\n"
    "Dir=/tmp/r%20oot/tree/\n"
    "Dir::Ignore-Files-Silently::=\\.disabled$\n"
    "DPkg::Options::=--root=/tmp/r%20oot/tree\n"
    "DPkg::Options::=--log=/dev/null\n"
    "\n"
    "probe-pkg - - none < 1.0 all none /tmp/r oot/my debs/probe-pkg_1.0_all.deb\n"
    "old-pkg 2.0 amd64 same > - - none **REMOVE**\n"
    "probe-pkg - - none < 1.0 all none **CONFIGURE**\n"
)


def test_a_deb_path_with_spaces_is_read_whole_never_as_a_relative_tail() -> None:
    # Before: the last whitespace-separated word, "debs/probe-pkg_1.0_all.deb": a path
    # relative to apt's working directory, where anyone who can write there could put a
    # harmless .deb of that name for the preview to read instead of the real one.
    debs, _, removed = apt_packages(io.BytesIO(CAPTURED.encode()))
    assert debs == ["/tmp/r oot/my debs/probe-pkg_1.0_all.deb"]
    assert removed == ["old-pkg"]


def test_the_root_dpkg_is_given_is_unquoted_as_apt_quotes_it() -> None:
    # Before: "/tmp/r%20oot/tree", another directory (which anyone could make in /tmp).
    _, root, _ = apt_packages(io.BytesIO(CAPTURED.encode()))
    assert root == "/tmp/r oot/tree"


def test_a_relative_or_damaged_package_line_names_no_file() -> None:
    text = ("VERSION 3\n\n"
            "a - - none < 1 all none debs/a_1_all.deb\n"  # relative: apt never writes one
            "b.deb\n"                                       # a name split by a newline
            "c - - none < 1 all none /var/cache/apt/archives/c_1_all.deb\n")
    debs, _, _ = apt_packages(io.BytesIO(text.encode()))
    assert debs == ["/var/cache/apt/archives/c_1_all.deb"]


def test_protocol_version_2_lines_are_read_with_their_own_fields() -> None:
    text = ("VERSION 2\nDPkg::Options::=--root=/srv/img\n\n"
            "probe-pkg - < 1.0 /srv/my debs/probe-pkg_1.0_all.deb\n"
            "old-pkg 2.0 > - **REMOVE**\n")
    debs, root, removed = apt_packages(io.BytesIO(text.encode()))
    assert (debs, root, removed) == (["/srv/my debs/probe-pkg_1.0_all.deb"], "/srv/img", ["old-pkg"])


def test_protocol_version_1_is_one_path_per_line() -> None:
    debs, root, removed = apt_packages(io.BytesIO(b"/var/cache/apt/archives/x y_1_all.deb\n"))
    assert (debs, root, removed) == (["/var/cache/apt/archives/x y_1_all.deb"], None, [])
