"""The Prometheus text format (0.0.4) of our families, as prometheus_client writes it.

Only what our families use: gauges and counters, sorted label names, escaped label values
and HELP text, floats as Go prints them. Byte for byte the output of
prometheus_client.generate_latest (proven in tests/exporters/test_exposition.py), without
its ~35 ms import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from checker.exporters.families import Family


def go_float(value: float) -> str:
    """A float as Go (and prometheus_client's floatToGoString) writes it."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(families: Iterable[Family]) -> bytes:
    lines: list[str] = []
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        help_text = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        lines.append(f"# HELP {name} {help_text}\n")
        lines.append(f"# TYPE {name} {family.type}\n")
        for values, value in family.samples:
            pairs = sorted(zip(family.labels, values))
            labels = "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in pairs) + "}" if pairs else ""
            lines.append(f"{name}{labels} {go_float(value)}\n")
    return "".join(lines).encode("utf-8")
