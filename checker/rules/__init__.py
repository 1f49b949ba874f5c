"""udev rules as udev 252 reads them, or udev 219 (the hosts of XenServer 8 and XCP-ng 8).

    textlines.py  physical lines and their endings, as udev splits them
    parser.py     rules text -> rules, as udev_rules_parse_file() does
    template.py   a value's %k / $kernel / %% pieces, read once for the canonical form
                  and the evaluator alike (udev 219 reads them the same way)
    canonical.py  what udev makes of each token, and a rule's canonical form
    model.py      Rule, RulesText, Token: plain values for everyone else
    parsed.py     parse_rules with the last results shared (what other rooms call)
    select.py     which lines could hold a given rule, told from the raw text
    semantics.py  UdevSemantics: whose udev (219 or 252) the parser and the evaluator follow
    parser219.py  rules text -> rules, as udev 219's parse_file() and add_rule() do
    canonical219.py  what udev 219 makes of each token, as the Meanings canonical.py gives
"""
