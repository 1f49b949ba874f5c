"""`install` and `uninstall`: what makes a host check itself, and taking exactly that away.

    target.py       the target system (systemd? which package managers?) and its settings
    units.py        the systemd units, as text
    hooks.py        package-manager hooks and the cron entry, as text
    systemctl.py    enabling and disabling the units
    manifest.py     what install added, with hashes, in the state directory
    installer.py    install: decide, then write (idempotent, all or nothing)
    uninstaller.py  uninstall: remove what the manifest records and nobody edited since
"""
