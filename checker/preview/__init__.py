"""`udev-drift preview`: what a package update would do to the policies, before it is installed.

    package.py      what is read from a package: its name, version, the rules files it
                    would install (files, links, /dev/null masks) and which are config
                    files; the limits every reader keeps; PackageError
    streams.py      decompression (xz, zstd, gzip, bzip2) that stops at a byte budget
    deb.py          a .deb: ar, control.tar.* (conffiles), data.tar.*
    rpm.py          an .rpm: lead, signature, header (parsed here), cpio payload
    transaction.py  the host after the transaction: each package manager's rules for
                    config files (dpkg conffiles, rpm %config and %config(noreplace)),
                    files the new version no longer ships
    overlay.py      a RulesFiles that reads the host plus the transaction's changes
    compare.py      engine.check before, after the update and after the repair that
                    follows it; what a policy loses, with the cause in the new package
    config.py       /etc/udev-drift/preview.yaml (block or warn), --force, the
                    environment, and apt's hook protocol on standard input
    metrics.py      the last preview as a textfile for node_exporter

Nothing is unpacked to disk and nothing on the host is written (except the metrics file
when asked for).
"""
