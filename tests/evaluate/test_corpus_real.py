"""Debian's whole rules corpus (what scripts/fetch-rules-corpus fetches) plus the seed's
rules, through the real udevd 252 on the loop devices and through the evaluator: every
decided answer about links, properties the rules set, and the link priority must agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri, Unknown
from checker.host import Host
from checker.observe.files import rules_in_udev_order
from checker.observe.udev import device_facts
from tests.evaluate.udevd import DEVICES, run_sets, why_not_here

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("UDEV_DRIFT_CORPUS", REPO / ".cache" / "rules-corpus"))
SEED = ('ACTION=="add", KERNEL=="loop6", SYMLINK+="xapi/block/%k", '
        "RUN+=\"/bin/sh -c 'echo %k >> /run/ran.%k'\"\n")

pytestmark = [
    pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs"),
    pytest.mark.skipif(not (CORPUS / "lib/udev/rules.d").is_dir(),
                       reason=f"no rules corpus at {CORPUS} (scripts/fetch-rules-corpus)"),
]


def corpus_files() -> dict[str, str]:
    files = {os.path.basename(f.path): f.text for f in rules_in_udev_order(Host(str(CORPUS)))}
    files["50-udev.rules"] = files.get("50-udev.rules", "") + SEED  # the seed's block, as on XenServer
    return files


def test_the_corpus_and_the_seed_agree_with_udevd_on_the_loop_devices() -> None:
    [outcome] = run_sets([corpus_files()])
    rules = RuleSet.from_texts(sorted(outcome.files.items()))
    decided = unknown = 0
    for device in DEVICES:
        facts = device_facts(f"/sys/block/{device}", "add")
        ev = evaluate(rules, facts)
        real = outcome.devices[device]
        for link in real.links | set(ev.links.members):
            answer = ev.link(link)
            if answer is Tri.UNKNOWN:
                unknown += 1
                continue
            decided += 1
            assert (answer is Tri.YES) == (link in real.links), (device, link, sorted(real.links))
        names = (set(real.properties) | set(ev.state.props)) - set(facts.properties) - {"T_UUID"}
        for name in names:
            value = ev.prop(name)
            if isinstance(value, Unknown):
                unknown += 1
                continue
            decided += 1
            assert real.properties.get(name) == value, (device, name, value, real.properties.get(name))
        if device == "loop6":  # the seed's link, decided through the whole corpus
            assert ev.link("xapi/block/loop6") is Tri.YES
        assert ev.link(f"disk/by-diskseq/{facts.node.attributes['diskseq']}") is Tri.YES
        assert ev.cause("xapi/block/loop7") is not None
    print(f"corpus vs udevd 252: {decided} decided answers agree, {unknown} unknown")
