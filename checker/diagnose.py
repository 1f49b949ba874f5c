"""`udev-drift _libudev`, a hidden command: does libudev load, and which disks does it see?

Not for users (it is not in --help): the single-file binary's test (tests/binary) runs it
in a chroot to prove that the binary finds the host's libudev at run time, as pyudev does
it: `ctypes.util.find_library("udev")`, then the C library's loader.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable


def add_parser(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    probe = commands.add_parser("_libudev")  # no help=: argparse then leaves it out of --help
    add_common(probe)
    probe.set_defaults(func=command_libudev)


def command_libudev(args: argparse.Namespace) -> int:
    """Print `libudev NAME` and one `disk NAME` line per block disk; 3 if libudev is missing."""
    import ctypes.util
    import sys

    print(f"libudev {ctypes.util.find_library('udev')}")
    try:
        import pyudev

        disks = pyudev.Context().list_devices(subsystem="block", DEVTYPE="disk")
        names = sorted(device.sys_name for device in disks)
    except ImportError as error:  # pyudev's word for "libudev not found"
        print(f"udev-drift: libudev: {error}", file=sys.stderr)
        return 3
    for name in names:
        print(f"disk {name}")
    return 0
