"""A live device's facts read only the sysfs attributes the rules files can name
(checker.check.named_devices.attribute_names): the evaluation must be exactly the one
made with every attribute read, on real devices (the loop devices) and Debian's corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checker.check.named_devices import attribute_names
from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Unknown
from checker.host import Host
from checker.observe.files import rules_in_udev_order
from checker.observe.udev import device_facts

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("UDEV_DRIFT_CORPUS", REPO / ".cache" / "rules-corpus"))
DEVICES = ("loop6", "loop7")


def outcome(evaluation: object) -> str:
    return repr([getattr(evaluation, name) for name in ("state", "trace", "link_events", "env_writers")])


def test_the_names_are_what_the_rules_put_in_braces() -> None:
    text = (b'KERNEL=="sd*", ATTR{size}=="0", ATTRS{ vendor }=="x", ENV{A}="$attr{model}"\n'
            b'PROGRAM="/bin/x %s{rev}", TEST{0644}=="queue/rotational"\n')
    assert attribute_names([text]) == {"size", "vendor", "A", "model", "rev", "0644"}
    assert attribute_names([text, b'ENV{B}="$attr{$env{WHICH}}"\n']) is None  # made at run time
    assert attribute_names([b'ATTR{%k}=="1"\n']) is None
    assert attribute_names([]) == frozenset()
    # a name a continuation splits is read whole by udev (ATTR{size}): every attribute then
    assert attribute_names([b'KERNEL=="sd*", ATTR{si\\\n  ze}=="0"\n']) is None
    assert attribute_names([b'KERNEL=="sd*", ATTR{si\\\rze}=="0"\r']) is None
    assert attribute_names([b'KERNEL=="sd*", \\\n  ATTR{size}=="0"\n']) == {"size"}


@pytest.mark.skipif(not all(os.path.exists(f"/sys/block/{d}") for d in DEVICES), reason="no loop6/loop7 here")
def test_a_restricted_read_knows_each_named_attribute_as_a_full_read_does() -> None:
    full = device_facts("/sys/block/loop6", "add")
    named = device_facts("/sys/block/loop6", "add", frozenset({"size", "ro", "nosuch", "queue/rotational"}))
    for name in ("size", "ro", "nosuch", "queue/rotational"):
        assert repr(named.node.attribute(name)) == repr(full.node.attribute(name))
    assert named.node.attribute("nosuch") is None  # absent, as a full read says
    assert isinstance(named.node.attribute("removable"), Unknown)  # not read: not known
    assert "removable" not in named.node.attributes and "removable" in full.node.attributes
    assert named.properties == full.properties and named.node.entries == full.node.entries


@pytest.mark.skipif(not all(os.path.exists(f"/sys/block/{d}") for d in DEVICES), reason="no loop6/loop7 here")
@pytest.mark.skipif(not (CORPUS / "lib/udev/rules.d").is_dir(),
                    reason=f"no rules corpus at {CORPUS} (scripts/fetch-rules-corpus)")
@pytest.mark.parametrize("action", ["add", "change", "remove"])
def test_the_corpus_evaluates_alike_with_only_the_named_attributes(action: str) -> None:
    files = [(os.path.basename(f.path), f.text) for f in rules_in_udev_order(Host(str(CORPUS)))]
    rules = RuleSet.from_texts(files)
    names = attribute_names(text.encode("utf-8", "surrogateescape") for _, text in files)
    assert names is not None and "removable" in names
    for device in DEVICES:
        full = evaluate(rules, device_facts(f"/sys/block/{device}", action))
        named = evaluate(rules, device_facts(f"/sys/block/{device}", action, names))
        # everything the evaluation made (the facts it was given differ, by design)
        assert outcome(named) == outcome(full)
        # the control: with no attribute read, the corpus's answers change (they read some;
        # on "remove" udev reads none of them there)
        assert action == "remove" or outcome(evaluate(rules, device_facts(f"/sys/block/{device}", action, frozenset()))) != outcome(full)
