"""Values as udev 219 leaves them in its fixed buffers: cut, never refused.

udev 252 refuses an assignment whose value does not fit its buffer (substitute.py,
expand_within()). udev 219 (RHEL 7: `src/udev/udev-event.c` udev_event_apply_format(),
`src/shared/strxcpyx.c` strpcpy()) keeps what fits and goes on:

- a substituted value is copied with strpcpy(): when it is as long as the room left or
  longer, its first room-1 bytes are copied and the buffer is full (every later piece is
  dropped); so a value cut there has size-1 bytes;
- text copied from the template goes one byte at a time while room is left, and may fill
  the last byte too: the terminating NUL is then written one byte past the buffer. What
  the event does after that is not known (undefined behaviour): said as such.

The buffers, per key (udev-rules.c of 219, udev_rules_apply_to_event(); udev-event.c;
libudev-private.h: UTIL_PATH_SIZE 1024, UTIL_NAME_SIZE 512):
- SYMLINK: temp[UTIL_PATH_SIZE]; then each word goes into filename[UTIL_PATH_SIZE] as
  "/dev/" + word with strscpyl(), so a word is cut at 1018 bytes (252 loops for ever there);
- ENV: value_new[UTIL_NAME_SIZE]; `+=` expands into temp[UTIL_NAME_SIZE] and then joins
  "old value", " ", temp into value_new with strscpyl() (cut at 511 bytes);
- TAG, NAME: [UTIL_PATH_SIZE]; OWNER, GROUP, MODE: [UTIL_NAME_SIZE];
- PROGRAM: program[UTIL_PATH_SIZE] (252: UTIL_LINE_SIZE, and refused): the cut command runs;
- RUN: expanded after the last rule into program[UTIL_PATH_SIZE] (udev_event_execute_run(),
  and udevadm-test.c prints it from the same size).
"""

from __future__ import annotations

from checker.evaluate.substitute import Context, Piece, byte_length, expand
from checker.evaluate.values import Tri, Unknown

PATH_SIZE_219 = 1024  # UTIL_PATH_SIZE
NAME_SIZE_219 = 512  # UTIL_NAME_SIZE
LINK_WORD_219 = PATH_SIZE_219 - 1 - len("/dev/")  # the longest link name filename[] holds


def format_219(template: str, ctx: Context, size: int) -> tuple[list[Piece], Tri]:
    """udev_event_apply_format(template, buf[size]) of udev 219: the pieces the buffer
    holds, and YES, or UNKNOWN where the template's own text may fill the buffer (the NUL
    then lands past it: what follows is not known). Never NO: 219 refuses nothing."""
    literal: list[bool] = []
    pieces = expand(template, ctx, literal=literal)
    return cut(pieces, literal, size)


def cut(pieces: list[Piece], literal: list[bool], size: int) -> tuple[list[Piece], Tri]:
    """The pieces copied in turn into a buffer of `size` bytes, as 219 copies them: a
    template's text (literal True) byte by byte, a value with strpcpy()."""
    out: list[Piece] = []
    room = size
    for index, (piece, plain) in enumerate(zip(pieces, literal)):
        if room == 0:
            break
        if isinstance(piece, Unknown):
            # Its length is not known, so neither is where the buffer ends: from here on
            # the value is what it could be, any prefix of the rest included.
            rest = pieces[index + 1:]
            if not rest and piece.pattern == "*":
                out.append(piece)
            else:
                out.append(Unknown("*", f"{piece.why} (udev 219 cuts the value at {size - 1} bytes)"))
            after_text = any(literal[index + 1:])
            return out, Tri.UNKNOWN if after_text else Tri.YES
        data = piece.encode("utf-8", "surrogateescape")
        if len(data) < room:
            out.append(piece)
            room -= len(data)
            continue
        if plain:
            # the buffer is filled with text: the NUL goes past it, and what is read back
            # (and whether the event goes on) is not known
            past = Unknown("*", f"udev 219 writes past its buffer of {size} bytes")
            return [*out, _decoded(data[:room]), past], Tri.UNKNOWN
        out.append(_decoded(data[:room - 1]))
        room = 0
    return out, Tri.YES


def cut_joined(pieces: list[Piece], size: int) -> list[Piece]:
    """strscpyl(buf, size, a, b, ...): the pieces joined and cut at size-1 bytes."""
    return cut(pieces, [False] * len(pieces), size)[0]


def cut_word(word: str) -> str:
    """A SYMLINK word as filename[UTIL_PATH_SIZE] holds it after "/dev/"."""
    if byte_length(word) <= LINK_WORD_219:
        return word
    return _decoded(word.encode("utf-8", "surrogateescape")[:LINK_WORD_219])


def _decoded(data: bytes) -> str:
    # a multi-byte character cut in two leaves bytes that are not UTF-8: kept as bytes
    return data.decode("utf-8", "surrogateescape")
