"""sd_notify, no dependency: `run` tells systemd (Type=notify) it is ready, stopping, and
alive (the watchdog), by datagrams such as "READY=1" to the AF_UNIX socket named by
$NOTIFY_SOCKET (a path, or an abstract name written with a leading '@')."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("im2mail.systemd")


class Notifier:
    """Tells systemd how `run` is doing. A no-op without $NOTIFY_SOCKET; never raises
    (the relay must not stop because systemd can't be told): a failure is logged once."""

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        if address.startswith("@"):
            address = "\0" + address[1:]  # an abstract socket
        self._address = address if address.startswith(("/", "\0")) else None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str = "running") -> None:
        self.send("READY=1", f"STATUS={status}")

    def stopping(self, status: str = "stopping") -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def send(self, *fields: str) -> bool:
        """One datagram of NAME=value lines; False if not sent."""
        if self._address is None:
            return False
        try:
            message = "\n".join(field.replace("\n", " ") for field in fields).encode()
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.setblocking(False)
                s.sendto(message, self._address)
        except (OSError, ValueError) as e:
            if not self._failed:
                self._failed = True
                log.debug("sd_notify to %r failed: %s", self._address, e)
            return False
        return True


def watchdog_interval() -> float | None:
    """Seconds between pings: half of $WATCHDOG_USEC; None if unset or not for us."""
    try:
        usec, pid = int(os.environ.get("WATCHDOG_USEC", "")), os.environ.get("WATCHDOG_PID")
        mine = not pid or int(pid) == os.getpid()
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 and mine else None
