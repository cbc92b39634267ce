"""What Messenger and WhatsApp share: Meta's Graph API (HTTP, errors, webhooks).

Both channels are one Meta app each: the access token (a Page token for Messenger, a
Cloud API token for WhatsApp) makes the calls, and the app secret signs every webhook
POST (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>`). Meta has no API to
register a webhook: the owner pastes the callback URL and a verify token into the app's
dashboard, and Meta checks them once with a GET (`hub.mode=subscribe`,
`hub.verify_token`, `hub.challenge`: answer the challenge when the token matches).

The bot's keyring secret (`bot:<name>`) holds both values as JSON, so `bot remove`, the
systemd credentials and doctor handle one secret per bot as for the other channels:
`{"token": "...", "app_secret": "..."}` (credentials()/encode()).

Graph errors come as HTTP 4xx/5xx with {"error": {"message", "type", "code",
"error_subcode", "error_data": {"details"}, "fbtrace_id"}}; error() maps them:

  code 190 (token expired or revoked), 102, 0 (AuthException)            -> AuthFailed
  4, 17, 32, 613, 80006, 80007, 130429, 131048, 131056 (rate limits);
    1, 2, 131000, 131016, 133004 (temporary) ; HTTP 5xx, 429              -> RetryLater
  Messenger 10 / 2018278 and 2018065, 2018109 (outside the messaging
    window, or the tag not allowed), WhatsApp 131047 (more than 24 hours
    since the customer last wrote: a template is needed)                 -> WindowClosed
  Messenger 551 / 1545041 (person not available), 100 / 2018001 (no
    such user), WhatsApp 131026 (receiver cannot get it), 131050          -> Blocked
  anything else                                                           -> Rejected

A reason (what the manager reads) quotes Meta's message and code, never the token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import redact, register_secret
from .base import AuthFailed, Blocked, ChannelError, Rejected, RetryLater, Sink
from .media import MediaClient
from .meta import SIGNATURE_HEADER, WINDOW, encode, handshake, sign, verify_signature

# The webhook's checks and the secret's shape live in meta.py (no aiohttp there: the
# registry reads them at start-up); they are part of this module's API as well.
__all__ = ["SIGNATURE_HEADER", "WINDOW", "Credentials", "GraphClient", "WindowClosed",
           "credentials", "encode", "error", "handshake", "sign", "verify_signature"]  # fmt: skip

DEFAULT_API_URL = "https://graph.facebook.com/v21.0"  # api_url: base with the version

_AUTH = frozenset({0, 102, 190})
_AGAIN = frozenset({1, 2, 4, 17, 32, 613, 80006, 80007, 130429, 131000, 131016, 131048,
                    131056, 133004})  # fmt: skip
_WINDOW_SUBCODES = frozenset({2018278, 2018065, 2018109})
_GONE = frozenset({131026, 131050})
_GONE_SUBCODES = frozenset({1545041, 2018001})


class WindowClosed(Rejected):
    """The platform allows no free-form reply now: the customer last wrote too long ago.
    `reason` says so and what can be done."""


@dataclass(frozen=True)
class Credentials:
    token: str
    app_secret: str


def credentials(secret: str, who: str) -> Credentials:
    """The stored secret's two parts; AuthFailed when it is not what encode() writes."""
    try:
        value = json.loads(secret)
        token, app_secret = value["token"], value["app_secret"]
    except (ValueError, TypeError, KeyError):
        raise AuthFailed(
            f"{who}: its stored secret is not a token and an app secret",
            hint="add the bot again: im2mail bot remove NAME, then im2mail bot add",
        ) from None
    if not (isinstance(token, str) and token and isinstance(app_secret, str) and app_secret):
        raise AuthFailed(f"{who}: its stored token or app secret is empty")
    register_secret(token)
    register_secret(app_secret)
    return Credentials(token, app_secret)


def error(who: str, platform: str, status: int, answer: Any, action: str) -> ChannelError:
    """The ChannelError for a Graph error answer (see the table above)."""
    body = answer.get("error") if isinstance(answer, dict) else None
    body = body if isinstance(body, dict) else {}
    code, subcode = _int(body.get("code")), _int(body.get("error_subcode"))
    words = body.get("message") if isinstance(body.get("message"), str) else ""
    details = (body.get("error_data") or {}) if isinstance(body.get("error_data"), dict) else {}
    if isinstance(details.get("details"), str) and details["details"] not in words:
        words = f"{words} {details['details']}".strip()
    words = redact(words or f"HTTP {status}")
    numbers = f"{code}/{subcode}" if subcode else f"{code}" if code is not None else ""
    reason = f"{platform} refused {action}: {words}" + (f" ({numbers})" if numbers else "")
    message = f"{who}: {reason}"
    if code in _AUTH or status == 401:
        return AuthFailed(
            message,
            hint=f"make a new token in Meta's dashboard, then add the bot again ({platform})",
            reason=reason,
        )
    if code in _AGAIN or status >= 500 or status == 429:
        return RetryLater(message, reason=reason)
    if subcode in _WINDOW_SUBCODES or code == 131047:
        return WindowClosed(message, reason=reason)
    if code in _GONE or subcode in _GONE_SUBCODES or code == 551:
        return Blocked(message, reason=reason)
    return Rejected(message, reason=reason)


class GraphClient:
    """One aiohttp session against `api_url` with the token as a Bearer header; every
    failure a ChannelError. `who` names the bot in messages, `platform` is "Messenger"
    or "WhatsApp"."""

    def __init__(
        self, who: str, platform: str, api_url: str, token: str, timeout: float = 10.0
    ) -> None:
        self.who, self.platform = who, platform
        self.api_url = api_url.rstrip("/")
        self._token, self._timeout = token, timeout
        self._session: aiohttp.ClientSession | None = None
        self.media = MediaClient(who, timeout)  # downloads: a session and timeouts of their own

    def _open(self) -> aiohttp.ClientSession:
        """The session for Graph calls, with the token."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.media.close()

    async def get(self, path: str, action: str, **params: str) -> dict[str, Any]:
        return await self._call("GET", path, action, params=params)

    async def post(self, path: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, action, json=payload)

    async def delete(self, path: str, action: str) -> dict[str, Any]:
        return await self._call("DELETE", path, action)

    async def upload(
        self,
        path: str,
        action: str,
        fields: dict[str, str],
        file: tuple[str, str, bytes],
        file_field: str = "file",
    ) -> dict[str, Any]:
        """A multipart POST: the fields, then the file as `file_field` (WhatsApp's /media
        takes "file", Messenger's attachment upload "filedata")."""
        form = aiohttp.FormData(quote_fields=False)  # a Cyrillic file name stays as written
        for key, value in fields.items():
            form.add_field(key, value)
        name, mime, data = file
        form.add_field(file_field, data, filename=name, content_type=mime)
        return await self._call("POST", path, action, data=form)

    async def download(self, url: str, name: str, limit: int, sink: Sink, *, bearer: bool) -> None:
        """A media file into `sink`, at most `limit` bytes (media.py: FileTooBig past it,
        or when the link expired). WhatsApp's media URLs want the token (bearer=True);
        Messenger's CDN URLs are open and must not get it."""
        headers = {"Authorization": f"Bearer {self._token}"} if bearer else None
        await self.media.download(url, name, limit, sink, headers=headers)

    async def _call(self, method: str, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.api_url}/{path.lstrip('/')}"
        session = self._open()
        try:
            async with session.request(method, url, **kwargs) as response:
                status = response.status
                try:
                    answer = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    answer = None
        except TimeoutError:
            raise RetryLater(
                f"{self.who}: {self.platform} did not answer {action} within {self._timeout:g} s",
                reason=f"{self.platform} did not answer in time",
                maybe_sent=method == "POST",
            ) from None
        except aiohttp.ClientError as e:
            raise RetryLater(
                f"{self.who}: cannot reach {self.platform} at {self.api_url}: {_describe(e)}",
                reason=f"{self.platform} could not be reached",
            ) from None
        if status >= 400 or not isinstance(answer, dict):
            if status < 400:
                raise RetryLater(f"{self.who}: {self.platform} gave an unreadable answer to "
                                 f"{action}", reason=f"{self.platform} gave an unreadable "
                                 "answer")  # fmt: skip
            raise error(self.who, self.platform, status, answer, action)
        return answer


def _describe(e: BaseException) -> str:
    return redact(f"{type(e).__name__}: {e}".rstrip(": "))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
