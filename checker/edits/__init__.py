"""Pure text edits of rules files: what a repair writes, and the diff that shows it.

    markers.py   the BEGIN/END comment lines of a managed block
    blocks.py    finding a policy's managed block, whole or damaged
    ensure.py    ensure_block / ensure_file / ensure_lines / ensure_absent: text -> Edit
    diffs.py     unified diffs and in-line character changes (diff-match-patch)
"""
