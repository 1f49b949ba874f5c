"""The rule set as udev 252 applies it, for one device and one action: three-valued.

    values.py    Tri (yes / no / unknown) and Unknown, a value known only as a pattern
    facts.py     DeviceFacts: what is known of one device; everything else is unknown
    fnmatch_regex.py  glibc's fnmatch() as a Python regex
    glob.py      udev's value patterns (fnmatch with '|' alternatives), three-valued
    state.py     what the rules built so far (properties, links, RUN ...), and its join
    substitute.py  %k, $kernel, %s{attr}, $env{X} ... as udev-event.c expands them
    engine.py    every rule in order, as udev-rules.c runs them: evaluate() -> Evaluation
    result.py    Evaluation: final links, properties, programs, the trace, and causes
    priority.py  which of several devices owns a link they all claim (udev-node.c)

Nothing here reads the host: facts come from checker.observe.udev (live) or a test.
"""
