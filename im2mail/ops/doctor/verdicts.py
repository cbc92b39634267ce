"""What one doctor check found (Check) and the ways to say it: passed, failed, warned,
skipped, from an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import Im2mailError, redact

Status = Literal["ok", "warning", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    """One check's outcome. ok: True passed, False failed, None skipped (detail says why).
    fix: what to do about a failure or a warning. warning: passed, with a caveat."""

    name: str
    ok: bool | None
    detail: str
    fix: str | None = None
    warning: bool = False

    @property
    def status(self) -> Status:
        if self.ok is None:
            return "skipped"
        if not self.ok:
            return "failed"
        return "warning" if self.warning else "ok"

    def record(self) -> dict[str, str | None]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str | None = None) -> Check:
    return Check(name, False, detail, fix)


def warned(name: str, detail: str, fix: str | None = None) -> Check:
    return Check(name, True, detail, fix, warning=True)


def skipped(name: str, reason: str) -> Check:
    return Check(name, None, reason)


def from_error(name: str, error: Im2mailError, fix: str | None = None) -> Check:
    """A failed check from a typed error: its message, its hint as the fix."""
    return failed(name, redact(error.message), redact(fix or error.hint or "") or None)


def all_passed(checks: list[Check]) -> bool:
    """Whether doctor exits 0: nothing failed (skipped checks and warnings don't count)."""
    return all(check.ok is not False for check in checks)
