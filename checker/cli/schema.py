"""`udev-drift schema`: the JSON Schema of the policy format, for editors."""

from __future__ import annotations

import argparse
import json
import sys

from checker.cli.options import EXIT_COMPLIANT


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        "schema", help=summary,
        description="Print the JSON Schema of the policy format (for editors' YAML language "
                    "servers: `# yaml-language-server: $schema=udev-drift.schema.json`).")


def run(args: argparse.Namespace) -> int:
    from checker.policy.model import Policy

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **Policy.model_json_schema()}
    json.dump(schema, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_COMPLIANT
