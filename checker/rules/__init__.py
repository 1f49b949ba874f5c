"""udev rules as udev 252 reads them.

    textlines.py  physical lines and their endings, as udev splits them
    parser.py     rules text -> rules, as udev_rules_parse_file() does
    canonical.py  what udev makes of each token, and a rule's canonical form
    model.py      Rule, RulesText, Token: plain values for everyone else
    parsed.py     parse_rules with the last results shared (what other rooms call)
    select.py     which lines could hold a given rule, told from the raw text
"""
