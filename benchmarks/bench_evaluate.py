"""How long the rules evaluator takes for one block device, in process.

    python3 benchmarks/bench_evaluate.py                 # Debian's corpus (.cache/rules-corpus)
    python3 benchmarks/bench_evaluate.py --corpus DIR --runs 200 --device /sys/block/loop0

The rule set is every rules file of the corpus tree in udev's order (checker.observe.files),
parsed and compiled once (what a check pays once per run); the row measured is one
`evaluate()` of the whole rule set for one device: a SCSI disk described by hand, and, with
--device, a real block device as libudev shows it. Prints the median and the 90th
percentile, with and without the trace, and the share of rules that ran with an unknown
answer. The goal is a median of at most 5 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.evaluate.engine import RuleSet, evaluate  # noqa: E402
from checker.evaluate.facts import DeviceFacts, NodeFacts  # noqa: E402
from checker.host import Host  # noqa: E402
from checker.observe.files import rules_in_udev_order  # noqa: E402

GOAL_MS = 5.0


def scsi_disk() -> DeviceFacts:
    path = "/devices/pci0000:00/0000:00:10.0/host2/target2:0:1/2:0:1:0/block/sdb"
    disk = NodeFacts("sdb", "block", None, path, {"size": "41943040", "ro": "0", "removable": "0"},
                     attributes_complete=True, devname="/dev/sdb")
    scsi = NodeFacts("2:0:1:0", "scsi", "sd", path.rsplit("/block/", 1)[0],
                     {"vendor": "VMware  ", "model": "Virtual disk    ", "type": "0"},
                     attributes_complete=True)
    pci = NodeFacts("0000:00:10.0", "pci", "mptspi", "/devices/pci0000:00/0000:00:10.0",
                    {"vendor": "0x1000"}, attributes_complete=True)
    props = {"ACTION": "add", "DEVPATH": path, "SUBSYSTEM": "block", "DEVNAME": "/dev/sdb",
             "DEVTYPE": "disk", "MAJOR": "8", "MINOR": "16", "DISKSEQ": "2"}
    return DeviceFacts("add", disk, "disk", (8, 16), properties=props, properties_complete=True,
                       unknown_properties=frozenset({"SEQNUM"}), parents=(scsi, pci), parents_complete=True)


def measure(rules: RuleSet, facts: DeviceFacts, runs: int, trace: bool,
            clock: Callable[[], float] = time.perf_counter) -> list[float]:
    evaluate(rules, facts, trace=trace)  # warm the caches once
    times = []
    for _ in range(runs):
        start = clock()
        evaluate(rules, facts, trace=trace)
        times.append((clock() - start) * 1000)
    return times


def row(name: str, times: list[float]) -> str:
    times = sorted(times)
    p90 = times[int(len(times) * 0.9) - 1]
    verdict = "ok" if statistics.median(times) <= GOAL_MS else "OVER THE GOAL"
    return f"  {name:<38} median {statistics.median(times):6.2f} ms   p90 {p90:6.2f} ms   {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_corpus = os.environ.get("UDEV_DRIFT_CORPUS", str(REPO / ".cache" / "rules-corpus"))
    parser.add_argument("--corpus", default=default_corpus)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--device", help="also a real block device, e.g. /sys/block/loop0")
    args = parser.parse_args()
    if not os.path.isdir(args.corpus):
        print(f"no rules corpus at {args.corpus} (run scripts/fetch-rules-corpus)", file=sys.stderr)
        return 2
    files = rules_in_udev_order(Host(args.corpus))
    start = time.perf_counter()
    rules = RuleSet.from_parsed((f.path, f.parsed) for f in files)
    compile_ms = (time.perf_counter() - start) * 1000
    devices = [("SCSI disk sdb (by hand)", scsi_disk())]
    if args.device:
        from checker.observe.udev import device_facts

        devices.append((os.path.basename(args.device), device_facts(args.device, "add")))
    print(f"rules evaluator: {len(files)} files, {len(rules)} rules kept by udev "
          f"(parse + compile {compile_ms:.0f} ms, once per run); {args.runs} runs per row; "
          f"goal: median <= {GOAL_MS} ms")
    for name, facts in devices:
        result = evaluate(rules, facts)
        ran = [s for s in result.steps if s.status in ("matched", "not-matched", "unknown")]
        unknown = sum(1 for s in ran if s.status == "unknown")
        print(f"{name}: {len(ran)} rules ran, {unknown} with an unknown answer "
              f"({unknown / max(1, len(ran)):.0%}); {sum(1 for t in result.links.members.values())} links "
              f"possible, {sum(1 for t in result.links.members.values() if t.value == 'yes')} sure")
        print(row("evaluate (with trace), wall clock", measure(rules, facts, args.runs, True)))
        print(row("evaluate (no trace), wall clock", measure(rules, facts, args.runs, False)))
        # CPU time of this process: what the evaluator costs when other processes share the cores
        cpu = measure(rules, facts, args.runs, True, time.process_time)
        print(row("evaluate (with trace), CPU time", cpu))
    every_event(files, args.runs)
    return 0


SEED = ('ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'
        'ACTION=="add", KERNEL=="sdb", RUN+="/bin/sh -c \'/opt/xensource/libexec/local-device-change %k\'"\n')


def every_event(files: list[Any], runs: int) -> None:
    """What `check` pays per device and wanted link (the corpus plus the seed's block in
    50-udev.rules): before, one evaluation at "add" on the slice for the link; now also one
    at "change" (a change event removes a link made at add only)."""
    from checker.evaluate.slice import slice_rules
    from checker.records import replace
    from checker.rules.parsed import parse_rules

    seed = ("/etc/udev/rules.d/50-udev.rules", parse_rules(SEED))
    parsed = sorted([(f.path, f.parsed) for f in files] + [seed], key=lambda pair: os.path.basename(pair[0]))
    rules = RuleSet.from_parsed(parsed)
    cut = slice_rules(rules, ["xapi/block/sdb"])
    add = scsi_disk()
    change = replace(add, action="change", properties={**add.properties, "ACTION": "change"},
                     properties_complete=False)
    whole = measure(rules, add, runs, False)
    before = measure(cut, add, runs, False)
    both = [a + c for a, c in zip(measure(cut, add, runs, False), measure(cut, change, runs, False))]
    print(f"every event a present disk sees (corpus + the seed block, {len(cut)} of {len(rules)} rules "
          "in the slice for xapi/block/sdb):")
    print(row("whole set at add (the row above)", whole))
    print(row("check before: the slice at add", before))
    print(row("check now: the slice at add and change", both))
    added = statistics.median(both) - statistics.median(before)
    print(f"  the change event adds {added:.3f} ms per device and link: "
          f"{added / statistics.median(whole):.1%} of the whole-set evaluation, "
          f"{statistics.median(both) / statistics.median(before):.2f} x the check's slice at add")
    claims(rules, add, change, both, whole, runs)


def claims(rules: RuleSet, add: Any, change: Any, both: list[float], whole: list[float], runs: int) -> None:
    """What weighing other disks' claims adds (checker.check.claims): the lines that could
    give the link to another disk found (LinkClaimers); each such disk's claim, on the
    check's slice, at add and change; and only where one surely claims the link, the
    priorities, on a slice with every link_priority line. In Debian's corpus LVM's
    SYMLINK+="$env{DM_VG_NAME}/$env{DM_LV_NAME}" may name any link, so every other disk
    present is asked; here one (sdc)."""
    from checker.check.claims import priority_setters
    from checker.evaluate.claimers import LinkClaimers
    from checker.evaluate.slice import ByKernel, slice_rules
    from checker.records import replace

    other_node = replace(add.node, kernel="sdc", devname="/dev/sdc")
    other_add = replace(add, node=other_node, devnum=(8, 32),
                        properties={**add.properties, "DEVNAME": "/dev/sdc", "MINOR": "32"})
    other_change = replace(other_add, action="change", properties_complete=False,
                           properties={**other_add.properties, "ACTION": "change"})
    present = frozenset(("sda", "sdb", "sdc"))
    cut = ByKernel(slice_rules(rules, ["xapi/block/sdb"]))
    claimers = LinkClaimers(rules)

    def asked() -> None:
        if "sdc" in claimers.kernels("xapi/block/sdb", present):
            for facts in (other_add, other_change):
                evaluate(cut.for_kernel("sdc"), facts, trace=False)

    weighed = ByKernel(slice_rules(rules, ["xapi/block/sdb"], priority_setters(rules)))

    def priorities() -> None:
        for kernel, facts in (("sdb", add), ("sdb", change), ("sdc", other_add), ("sdc", other_change)):
            evaluate(weighed.for_kernel(kernel), facts, trace=False)

    claim = measure_call(asked, runs)
    print(row("claims: sdc's claim at add+change", claim))
    print(row("  and a sure claim's priorities", measure_call(priorities, runs)))
    print(f"  another disk that may get the link adds {statistics.median(claim):.3f} ms per link: "
          f"{statistics.median(claim) / statistics.median(whole):.1%} of the whole-set evaluation, "
          f"{(statistics.median(both) + statistics.median(claim)) / statistics.median(both):.2f} x the "
          "check's slice at add and change; a link no other present disk can get adds only the lookup, "
          "a sure claim (a finding) the priorities")


def measure_call(call: Callable[[], None], runs: int) -> list[float]:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


if __name__ == "__main__":
    sys.exit(main())
