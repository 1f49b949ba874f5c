"""`udev-drift adopt`: the policy that protects what a host's rules files hold now.

    pristine.py   the best untouched copy of a rules file: a package leftover beside it,
                  the vendor file of the same name, or one the admin names
    additions.py  pristine against current, rule by rule as udev reads them: what the
                  admin added, deleted or changed, and the added rules' runs of lines
    template.py   repeated rules that differ in one disk name or serial, as one for_each
    links.py      the /dev links the adopted rules make on devices present now
    entries.py    the adopted policy's entries and notes (plain data)
    plan.py       a host and its rules files -> the entries of the adopted policy
    render.py     the entries as a commented YAML policy no text can break out of, loaded
                  back and checked by the real validator; what fits in one policy
"""
