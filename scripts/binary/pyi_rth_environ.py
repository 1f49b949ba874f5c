"""PyInstaller runtime hook of the udev-drift binary (scripts/build-binary).

PyInstaller's bootloader puts its own library directory first in LD_LIBRARY_PATH (and
saves the caller's value in LD_LIBRARY_PATH_ORIG). The running program needs that no
more, but every program it starts would inherit it: udevadm, rpm and ldconfig on a
XenServer dom0 would load the bundled libraries, built for a newer C library, and fail.
So the caller's environment is put back before udev-drift runs.
"""

import os

_original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
if _original is not None:
    os.environ["LD_LIBRARY_PATH"] = _original
else:
    os.environ.pop("LD_LIBRARY_PATH", None)
