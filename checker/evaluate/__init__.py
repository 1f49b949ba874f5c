"""The rule set as udev 252 applies it (or udev 219: RuleSet.semantics), for one device
and one action: three-valued.

    values.py      Tri (yes / no / unknown) and Unknown, a value known only as a pattern
    facts.py       DeviceFacts: what is known of one device; everything else is unknown
    fnmatch_glibc.py  glibc's fnmatch(), without backtracking
    glob.py        udev's value patterns (fnmatch with '|' alternatives), three-valued
    state.py       what the rules built so far (properties, links, RUN ...), and its join
    substitute.py  %k, $kernel, %s{attr}, $env{X} ... as udev-event.c expands them
    link_names.py  the link names udev writes for a SYMLINK value (characters it replaces)
    trace.py       Where a rule is, what became of it (Step), what it did to the links
    ruleset.py     RuleSet: the rules compiled once (tokens in udev's order, GOTO targets)
    engine.py      evaluate(): every rule as udev-rules.c runs it
    result.py      Evaluation: final links, properties, programs, the trace of every rule
    causes.py      why a wanted link is not made, with the file:line to look at
    events.py      why a rule's program is not in the final run list; which rule makes udev
                   watch the device (a "change" each time it is closed after a write)
    priority.py    which of several devices owns a link they all claim (udev-node.c),
                   whether one device keeps it against the others' claims (contest), and
                   which listed names udev cannot create
    claimers.py    which present devices some rule could give a link (before evaluating)
    pmap.py        an immutable mapping sharing structure: copies are free, joins see what differs
    slice.py       the lines that can change a few answers: a large set evaluated fast

Use: `RuleSet.from_parsed((path, parsed) for f in rules_in_udev_order(host))` once, then
`evaluate(rules, facts)` per device, with facts from checker.observe.udev.device_facts()
(live) or facts.block_device_facts() (a /dev node under --root). Nothing here reads the
host.
"""
