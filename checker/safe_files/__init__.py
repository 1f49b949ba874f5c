"""How a file is read or written safely, inside a root that others may have written to.

- `confined`: directories opened inside a --root tree, as a chroot would see them, race-free
- `atomic`: a file written so that it is at every moment wholly old or wholly new
- `safe_open`: reading a file that may be hostile (no links, no FIFOs, no devices, bounded)
"""
