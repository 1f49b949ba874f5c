"""Make the single-file udev-drift binary from a PyInstaller one-dir build (scripts/build-binary).

    python3 pack.py --launcher LAUNCHER --tree ONEDIR --output FILE

1. Copies into ONEDIR/_glibc/ every library that `ldd` lists for a program or library of
   the build and that the build does not hold itself (ld.so, libc, libm, ...), the
   loader as `_glibc/ld.so`.
2. Gives the program (ONEDIR/udev-drift) a long placeholder ELF interpreter, which the
   launcher replaces with the unpacked `_glibc/ld.so` at unpack time, and an RPATH that
   finds the bundled libraries first.
3. Writes LAUNCHER + payload (every directory, file and link of ONEDIR, files
   zlib-compressed) + trailer to FILE. The formats are those of scripts/binary/launcher.c.

Standard library only, plus `ldd` and `patchelf` on PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

PROGRAM = "udev-drift"
GLIBC_DIR = "_glibc"
INTERP = f"{GLIBC_DIR}/ld.so"
# The launcher writes "<cache dir>/<32 hex>/_glibc/ld.so" here; the room bounds the cache
# directory's path to about 950 bytes.
INTERP_ROOM = 1024
PLACEHOLDER = "/udev-drift-unpacked-interpreter/".ljust(INTERP_ROOM - 1, "x")
RPATH = f"$ORIGIN/{GLIBC_DIR}:$ORIGIN/_internal"

TRAILER_MAGIC = b"udev-drift-pack1"
ENTRY = struct.Struct("<BBHIQQ")  # type, flags, path length, mode, size, stored size
TRAILER = struct.Struct("<QQ32s16s")  # payload offset, payload size, id, magic
FLAG_ZLIB, FLAG_INTERP = 1, 2

LDD_LINE = re.compile(r"^\s*(?:(\S+) => )?(/\S+) \(0x[0-9a-f]+\)$")


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def ldd(path: Path) -> tuple[list[Path], Path | None]:
    """The libraries `ldd` resolves for `path`, and its ELF interpreter (None for none)."""
    done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    if "not a dynamic executable" in done.stdout + done.stderr:
        return [], None
    if done.returncode != 0:
        sys.exit(f"pack.py: ldd {path} failed: {done.stderr.strip()}")
    libraries: list[Path] = []
    interpreter = None
    for line in done.stdout.splitlines():
        if "=> not found" in line:
            sys.exit(f"pack.py: {path} needs a library that is not on this machine: {line.strip()}")
        match = LDD_LINE.match(line)
        if match is None:
            continue  # linux-vdso.so.1 and the like
        if match.group(1) is None:
            interpreter = Path(match.group(2))
        else:
            libraries.append(Path(match.group(2)))
    return libraries, interpreter


def bundle_c_library(tree: Path) -> list[str]:
    """Copy the libraries the build needs but does not hold into tree/_glibc."""
    target = tree / GLIBC_DIR
    if target.exists():
        shutil.rmtree(target)
    held = {p.name for p in tree.rglob("*") if p.is_file() or p.is_symlink()}
    wanted: dict[str, Path] = {}
    interpreter: Path | None = None
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()):
        if not is_elf(path):
            continue
        libraries, program_interpreter = ldd(path)
        interpreter = interpreter or program_interpreter
        for library in libraries:
            if library.name not in held and library.name != (interpreter and interpreter.name):
                wanted.setdefault(library.name, library)
    if interpreter is None:
        sys.exit(f"pack.py: no ELF interpreter found for anything in {tree}")
    target.mkdir()
    for name, source in sorted(wanted.items()):
        shutil.copyfile(source.resolve(), target / name)
        (target / name).chmod(0o755)
    shutil.copyfile(interpreter.resolve(), tree / INTERP)
    (tree / INTERP).chmod(0o755)
    return [f"{interpreter} (as {INTERP})", *(str(p) for p in sorted(wanted.values()))]


def patch_program(program: Path) -> None:
    subprocess.run(["patchelf", "--set-interpreter", PLACEHOLDER, "--force-rpath", "--set-rpath",
                    RPATH, str(program)], check=True)


def entries(tree: Path) -> list[tuple[int, int, str, int, bytes]]:
    """(type, flags, relative path, mode, data) of every entry under tree, parents first."""
    found: list[tuple[int, int, str, int, bytes]] = []
    for directory, dirs, files in os.walk(tree):
        dirs.sort()
        base = Path(directory)
        for name in dirs:
            path = base / name
            relative = path.relative_to(tree).as_posix()
            if path.is_symlink():
                found.append((ord("l"), 0, relative, 0o777, os.readlink(path).encode()))
            else:
                found.append((ord("d"), 0, relative, path.stat().st_mode & 0o7777, b""))
        for name in sorted(files):
            path = base / name
            relative = path.relative_to(tree).as_posix()
            if path.is_symlink():
                found.append((ord("l"), 0, relative, 0o777, os.readlink(path).encode()))
            else:
                flags = FLAG_INTERP if relative == PROGRAM else 0
                found.append((ord("f"), flags, relative, path.stat().st_mode & 0o7777, path.read_bytes()))
    return found


def payload(tree: Path) -> bytes:
    parts: list[bytes] = []
    for kind, flags, relative, mode, data in entries(tree):
        name = relative.encode()
        stored = data
        if kind == ord("f"):
            stored = zlib.compress(data, 9)
            flags |= FLAG_ZLIB
        parts += [ENTRY.pack(kind, flags, len(name), mode, len(data), len(stored)), name, stored]
    parts.append(ENTRY.pack(ord("e"), 0, 0, 0, 0, 0))
    return b"".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", type=Path, required=True)
    parser.add_argument("--tree", type=Path, required=True, help="the PyInstaller one-dir build")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    tree: Path = args.tree
    if not (tree / PROGRAM).is_file():
        sys.exit(f"pack.py: {tree / PROGRAM} is missing: not a one-dir build of udev-drift")
    for line in bundle_c_library(tree):
        print(f"  bundled {line}")
    patch_program(tree / PROGRAM)
    launcher = args.launcher.read_bytes()
    data = payload(tree)
    ident = hashlib.sha256(data).hexdigest()[:32].encode()
    output: Path = args.output
    temporary = output.with_name(output.name + ".partial")
    with temporary.open("wb") as file:
        file.write(launcher)
        file.write(data)
        file.write(TRAILER.pack(len(launcher), len(data), ident, TRAILER_MAGIC))
    temporary.chmod(0o755)
    temporary.replace(output)
    print(f"  payload {ident.decode()}: {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
