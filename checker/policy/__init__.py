"""Policy files to desired state: the only folder that knows the policy format.

    files.py        which files the command line names, each read once
    permissions.py  refuse a policy someone other than root could have written (or swapped)
    places.py       where a policy may make root write: paths, expanded or cached, and items
    model.py        the format (v1) as pydantic models: the only place pydantic is used
    loader.py       YAML with line numbers, validated; errors with file, line and key path
    expand.py       for_each expansion, and the rules checked as udev reads them
    desired.py      desired state as plain values: what the rest of the code sees
    conflicts.py    policies that contradict each other are refused
    cache.py        validated policies kept in the state directory, keyed by their bytes
                    and the validator
    shipped.py      the policies that ship inside the package
"""
