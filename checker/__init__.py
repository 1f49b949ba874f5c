"""udev-drift: finds and repairs drift in udev rules and /dev symlinks."""

__version__ = "1.0.0"
