"""Fuzzing the policy loader: whatever the input, nothing escapes but the tool's own
errors (which the command line turns into one line and an exit status). 6,000 inputs per
run; HYPOTHESIS_PROFILE=thorough does not raise these (they set their own count).
Coverage-guided fuzzing of the same targets with atheris is in tests/fuzz."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.engine import load_desired
from checker.errors import UdevDriftError

KEYS = ["version", "name", "description", "rules", "symlinks", "apply", "file", "ensure", "content",
        "for_each", "link", "target", "device", "required", "serial", "wwn", "path", "kernel",
        "reload", "trigger", "bogus"]
VALUES = ["block", "lines", "file", "absent", "/etc/udev/rules.d/50-udev.rules", "/dev/xapi/block/{{ item }}",
          "/dev/sdb", "xen", 'KERNEL=="{{ item }}", SYMLINK+="x/%k"', "{{ item }}", "{{ nope }}", "", "..",
          'KERNEL=="a" # c', "\x00", "sdb"]
scalars = st.one_of(st.sampled_from(VALUES), st.integers(-2, 3), st.booleans(), st.none(),
                    st.text(max_size=20), st.floats(allow_nan=True))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(KEYS), children, max_size=6)),
    max_leaves=30,
)
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


SCRATCH = Path(tempfile.mkdtemp(prefix="udev-drift-fuzz-"), "p.yaml")
atexit.register(shutil.rmtree, SCRATCH.parent, True)


def load(text: str | bytes) -> None:
    SCRATCH.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        load_desired([str(SCRATCH)])
    except UdevDriftError as error:
        assert str(error) and "Traceback" not in str(error)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    load(data)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("version:name-rules[]{}&*!|>\"'#\n\t -{{ item }}12")), max_size=200))
def test_yaml_like_text(text: str) -> None:
    load(text)


@FUZZ
@given(documents)
def test_any_structure_of_the_policy_vocabulary(document: Any) -> None:
    load(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(st.fixed_dictionaries({"version": st.just(1), "name": st.sampled_from(["xen", "a.b-c_d"])},
                             optional={"rules": st.lists(st.dictionaries(st.sampled_from(KEYS), scalars), max_size=3),
                                       "symlinks": st.lists(st.dictionaries(st.sampled_from(KEYS), scalars), max_size=3),
                                       "apply": st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2)}))
def test_nearly_valid_policies(document: Any) -> None:
    load(yaml.safe_dump(document, allow_unicode=True))
