"""Which user and group names the host knows: udev resolves OWNER= and GROUP= names when it
loads the rules, and ignores a name it cannot resolve ("Unknown user 'x', ignoring").

On the running host the names are asked of the C library (NSS: /etc/passwd, LDAP, ...),
as udev does; under --root, the tree's /etc/passwd and /etc/group are read.
"""

from __future__ import annotations

import grp
import pwd

from checker.host import Host

_DATABASES = {"user": "/etc/passwd", "group": "/etc/group"}


class Accounts:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._tree_names: dict[str, set[str]] = {}

    def knows(self, kind: str, name: str) -> bool:
        """Whether a user ("user") or group ("group") of this name exists on the host."""
        if self.host.is_tree:
            return name in self._names_in_tree(kind)
        try:
            (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
        except KeyError:
            return False
        return True

    def _names_in_tree(self, kind: str) -> set[str]:
        if kind not in self._tree_names:
            try:
                with open(self.host.path(_DATABASES[kind]), encoding="utf-8", errors="replace") as handle:
                    names = {line.split(":", 1)[0] for line in handle if ":" in line}
            except OSError:
                names = set()
            self._tree_names[kind] = names
        return self._tree_names[kind]
