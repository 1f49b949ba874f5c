"""The command line: nothing outside this folder imports it.

    dispatch.py     main(): parse, run one command, turn errors into exit statuses
    commands.py     every command: its module and summary (the Command protocol)
    options.py      --debug, the run options of check and serve, RunSettings from them
    check.py        check [--repair [--dry-run]]
    validate.py     validate PATH...
    policies.py     policies [NAME]
    schema.py       schema
    serve.py        serve (the daemon is checker/serve/)
    suggest.py      suggest (the logic is checker/check/suggest.py)
    explain.py      explain LINK|DEVICE (the trace is checker/check/trace.py)
    install.py      install (the installer is checker/install/)
    uninstall.py    uninstall
    diagnose.py     _libudev, hidden: the binary's tests ask it whether libudev loads
    render_text.py  the text report of check
    visible.py      text for a terminal: control characters shown as escapes, never obeyed

`main` is the console script's entry point (checker.cli:main); it is the one name this
package imports, and only dispatch.py's own imports come with it.
"""

from checker.cli.dispatch import main

__all__ = ["main"]
