"""What one run is asked to do, as plain values: light to import, so that the command line
can make it without loading the engine."""

from __future__ import annotations

from checker.records import dataclass
from checker.state import LOCK_WAIT_SECONDS
from checker.udevadm.calls import DEFAULT_TIMEOUT as DEFAULT_UDEVADM_TIMEOUT


@dataclass(frozen=True)
class RunSettings:
    """What one check or repair is asked to do, made once from the command line (`check`,
    and every check of `serve`). Paths are absolute; the defaults are already applied."""

    policy_paths: list[str]  # policy files or directories of them
    root: str  # "/" for the running host, else the tree's absolute path
    state_path: str  # the state directory
    repair: bool = False
    dry_run: bool = False  # with repair: describe the plan, change nothing
    udevadm: str = "udevadm"
    udevadm_timeout: float = DEFAULT_UDEVADM_TIMEOUT
    lock_timeout: float = LOCK_WAIT_SECONDS
    safe_permissions: bool = False  # refuse policies someone other than root could write
    records_metrics: bool = False  # the run writes its counters to the state directory anyway
    udev: str = "auto"  # --udev: "219", "252" or "auto" (checker.observe.versions.udev_semantics)
