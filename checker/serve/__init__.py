"""The daemon of `udev-drift serve`.

    daemon.py         start, signals, stop: the threads below wired together
    loop.py           the check thread: one check per interval or request
    http.py           the HTTP server: /metrics from the last check, never waiting for one
    watch_rules.py    inotify on udev's rules directories: check within a second
    device_events.py  libudev's block device events: check when a disk comes or goes
"""
