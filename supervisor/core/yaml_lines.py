"""Where in a YAML file a problem is: rule, catalogue and calendar files are refused with
the file and the line a person should look at."""

from __future__ import annotations

import yaml


def line_of(node: yaml.Node | None, path: list[str | int]) -> int:
    """The 1-based line of the deepest node along `path` that exists in the YAML tree, so
    an error points at the offending key, or at its entry when the key is missing."""
    line = node.start_mark.line + 1 if node is not None else 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == step), None)
            if match is None:
                key = next((k for k, _ in node.value if k.value == step), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value)
        ):
            node = node.value[step]
        else:
            return line
        line = node.start_mark.line + 1
    return line
