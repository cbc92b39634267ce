"""Where im2mail keeps its files: one function, overridable with $IM2MAIL_HOME.

Kept apart from config.py so that commands which only read the archive (search, tail)
don't pay for loading the config machinery at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "im2mail"
HOME_ENV = "IM2MAIL_HOME"


@dataclass(frozen=True)
class Paths:
    config: Path  # config.toml
    archive: Path  # archive.db
    blobs: Path  # attachment store


def paths() -> Paths:
    """Every path im2mail uses: under $IM2MAIL_HOME if set, else the platform's dirs."""
    home = os.environ.get(HOME_ENV)
    if home:
        config_dir = data_dir = Path(home).expanduser()
    else:
        import platformdirs

        config_dir = Path(platformdirs.user_config_dir(APP_NAME))
        data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    return Paths(
        config=config_dir / "config.toml",
        archive=data_dir / "archive.db",
        blobs=data_dir / "blobs",
    )
