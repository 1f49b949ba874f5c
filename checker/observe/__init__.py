"""Reading the host into plain values; nothing here decides what is right.

    files.py     rules files as udev reads them, and which file shadows which
    links.py     a /dev link: what stands at the path, and where it leads
    devices.py   the device an entry names: the tree's /dev/disk, or libudev
    udev.py      block devices through libudev (the only module importing pyudev)
    usage.py     what the host does with a disk: mounts, swap, md/LVM/dm holders
    accounts.py  the user and group names the host knows (udev resolves OWNER/GROUP)
    packages.py  a package's own copy of one of its files, from apt's cache of .debs
"""
