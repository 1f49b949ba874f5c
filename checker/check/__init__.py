"""Desired state against observed state: findings (kept, or drift with a reason).

    rules.py     rules entries (block, file, lines, absent) against the rules files
    links.py     symlink entries against /dev and libudev's devices
    effects.py   does it take effect? the rule set evaluated for the devices policies name,
                 at add and change (links) and at each rule's event (its programs)
    every_event.py  the fix for a link made at add only: ACTION!="remove", the program on add
    claims.py    a wanted link another present disk can get: udev's link_priority decides
    named_devices.py  the devices the policies name, and their facts (read once per action)
    verdicts.py  the answers of effects.py kept in the state directory, keyed by every input
    trace.py     what `explain` shows: the whole rule set applied to one device
    explain.py   why a managed file drifted (a package update, an edit), from fingerprints
    load_warnings.py  what udev would log but accept when it loads the policies' rules
    suggest.py   rules and links that name a disk by kernel name, and its stable key
"""
