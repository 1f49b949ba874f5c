"""`udev-drift _libudev`, a hidden command: does libudev load, and which disks does it see?

Not for users (it is not in --help): the single-file binary's test (tests/binary) runs it
in a chroot to prove that the binary finds the host's libudev at run time, as pyudev does
it: `ctypes.util.find_library("udev")`, then the C library's loader.
"""

from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    return commands.add_parser("_libudev")  # no help=: argparse then leaves it out of --help


def run(args: argparse.Namespace) -> int:
    """Print `libudev NAME` and one `disk NAME` line per block disk; exit 3 (one line, from
    the observer's UdevError) if libudev cannot be used."""
    import ctypes.util

    from checker.observe.udev import observe_block_devices  # the one module that uses pyudev

    print(f"libudev {ctypes.util.find_library('udev')}")
    state = observe_block_devices()
    for name in sorted(device.sys_name for device in state.devices if device.devtype == "disk"):
        print(f"disk {name}")
    return 0
