"""`im2mail stats`: the report read from the home's archive.

archive/stats.py computes; this module opens what the command needs (config.toml for
[hours] and the managers, when there is one; the archive, read only). The CLI lays the
figures out (cli/stats_tables.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..archive import stats
from ..config import Config
from ..errors import UsageError
from ..home import Paths
from ..hours import BusinessHours
from ..timeutil import local


@dataclass(frozen=True)
class Gathered:
    report: stats.Report | None  # None: there is no archive yet
    hours: BusinessHours


def gather(
    where: Paths, cfg: Config | None, since: datetime, until: datetime, now: datetime
) -> Gathered:
    """The report of [since, until) from the archive at where.archive."""
    from ..archive import Archive

    if since >= until:
        raise UsageError(
            f"--since ({local(since)}) is not before --until ({local(until)})",
            hint="e.g. --since 30d, or --since 2026-11-01 --until 2026-12-01",
        )
    hours = BusinessHours(cfg.hours if cfg else None)
    if not where.archive.exists():
        return Gathered(None, hours)
    managers = cfg.mail.managers if cfg else ()
    with Archive.open(where.archive, where.blobs) as archive:
        return Gathered(stats.report(archive, hours, since, until, now, managers), hours)
