"""`python -m checker` runs the command line, as the installed `udev-drift` does."""

from checker.cli import main

raise SystemExit(main())
