"""udev-drift: finds and repairs drift in udev rules and /dev symlinks.

One run, as the folders hold it (CONTRIBUTING.md says where each kind of change goes):

    policy/    policy files -> desired state (pydantic lives only here)
    rules/     udev rules as udev 252 reads them: parser, canonical form
    evaluate/  the rule set as udev 252 applies it to one device, three-valued
    observe/   the host read into plain values: rules files, libudev, disk usage
    check/     desired x observed -> findings, and why something drifted
    edits/     pure text edits of rules files, and their diffs
    engine.py  one run: load, check, dry-run or repair
    repair.py  plan (pure) and apply (the only code that writes rules files and links)
    exporters/ report -> Prometheus metrics (installed from the top-level exporters/)
    serve/     the daemon: check loop, HTTP server, watchers
    install/   install / uninstall
    adopt/     the policy that protects what a host's rules files hold now
    preview/   what an incoming package would take away, before it is installed
    cli/       the command line; nothing else imports it

Ground that every room may use: errors, paths, host, state, trusted_cache (a cache in the
state directory, read only when root's), settings, findings (the report); safe_files/
(confined: paths opened inside a --root tree; atomic; safe_open: reading a file that may be
hostile, no links, no FIFOs, bounded); udevadm/ (calls to the live udev daemon, and the
reload/trigger calls a failed repair still owes).
"""

__version__ = "1.0.0"
