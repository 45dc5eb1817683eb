"""Where in a YAML file a problem is: rule, catalogue and calendar files are refused with
the file and the line a person should look at."""

from __future__ import annotations

from pathlib import Path

import yaml


def not_yaml(path: Path, exc: yaml.YAMLError) -> str:
    """A file that does not parse, as one line: `file:line:column: not valid YAML: the
    problem` (the parser's own message spans several lines and quotes
    `<unicode string>` instead of the file)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "cannot be parsed"
    return f"{where}: not valid YAML: {problem}"


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
