"""Reading a platform's JSON payload field by field (Viber, Messenger, WhatsApp): a field
that is missing or of the wrong type is BadField, which each parser turns into
MalformedUpdate naming the field."""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024


class BadField(Exception):
    """A payload that lacks a field or has one of the wrong type."""


def obj(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise BadField(f"no {key}")
    return value


def ident(raw: dict[str, Any], key: str, *, numbers: bool = False) -> str:
    """A non-blank string id; with numbers, a non-negative integer one too (as a string)."""
    value = raw.get(key)
    if numbers and is_int(value) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadField(f"no {key}")
    return value


def text(raw: dict[str, Any], key: str) -> str:
    """An optional string field: "" when absent or null."""
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadField(f"{key} is not a string")
    return value


def required_text(raw: dict[str, Any], key: str) -> str:
    value = text(raw, key)
    if not value:
        raise BadField(f"no {key}")
    return value


def number(raw: dict[str, Any], key: str, *, coordinate: bool = False) -> float:
    """A number; with coordinate, also one written as a string (some payloads do), and
    within ±180."""
    value = raw.get(key)
    if coordinate and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadField(f"no {key}") from None
    if not (is_int(value) or isinstance(value, float)):
        raise BadField(f"no {key}")
    if coordinate and (value != value or abs(value) > 180):  # NaN, or off the globe
        raise BadField(f"{key} out of range")
    return float(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def megabytes(size: int) -> str:
    return f"{size / MB:.1f}".removesuffix(".0") + " MB"
