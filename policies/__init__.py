"""Policy files that ship with udev-drift (installed as the package `checker.policies`)."""
