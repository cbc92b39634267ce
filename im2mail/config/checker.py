"""Reading config.toml's tables: typed values that name their key when wrong.

The checker is shared by the package's modules (the core settings in __init__, the
[hours], [alerts] and [templates] sections in sections.py), so every error reads the same:
`mail.smtp.port: expected an integer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError

ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class _Checker:
    """Reads typed values out of nested tables, naming the key when one is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[str] = []

    def fail(self, key: str, problem: str, hint: str | None = None) -> None:
        raise ConfigError(
            f"{key}: {problem}", hint=hint or f"edit {self.source} or re-run: im2mail init"
        )

    def unknown(self, table: dict[str, Any], prefix: str, known: set[str]) -> None:
        for key in table:
            if key not in known:
                self.warnings.append(f"{prefix}{key}: unknown key, ignored")

    def table(self, parent: dict[str, Any], key: str, *, required: bool, prefix: str = ""):
        value = parent.get(key)
        if value is None:
            if required:
                self.fail(f"{prefix}{key}", "missing section")
            return {}
        if not isinstance(value, dict):
            self.fail(f"{prefix}{key}", "expected a table")
        return value

    def value(
        self,
        table: dict[str, Any],
        key: str,
        kind: type,
        prefix: str,
        *,
        default: Any = ...,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        name = f"{prefix}{key}"
        if key not in table:
            if default is ...:
                self.fail(name, "missing (required)")
            return default
        value = table[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(name, "expected an integer")
        if kind is str and not isinstance(value, str):
            self.fail(name, "expected a string")
        if kind is bool and not isinstance(value, bool):
            self.fail(name, "expected true or false")
        if kind is list and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            self.fail(name, "expected a list of strings")
        problem = check(value) if check else None
        if problem:
            self.fail(name, problem)
        return value
