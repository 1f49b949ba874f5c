"""Reading the host into plain values; nothing here decides what is right.

    files.py     rules files as udev reads them, and which file shadows which
    udev.py      block devices and links through libudev (the only module importing pyudev)
    usage.py     what the host does with a disk: mounts, swap, md/LVM/dm holders
    packages.py  a package's own copy of one of its files, from apt's cache of .debs
"""
