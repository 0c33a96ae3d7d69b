"""A small Google Calendar API v3 client: service-account auth (google-auth) over httpx.

Only what appointments need: events.insert (with a Meet conference), events.patch
and events.delete. Wire format: https://developers.google.com/workspace/calendar/api/v3/reference/events
— a Meet link is requested with ``conferenceData.createRequest`` (``conferenceSolutionKey.type =
"hangoutsMeet"``) and only honoured with the ``conferenceDataVersion=1`` query parameter; the
answer carries it as ``hangoutLink`` and in ``conferenceData.entryPoints``.
"""

import hashlib
import json
import threading
from urllib.parse import quote

import httpx
from django.conf import settings
from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import service_account

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class CalendarError(Exception):
    """A Calendar call that failed; ``retryable`` says whether trying later may help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class _Response(transport.Response):
    def __init__(self, response: httpx.Response):
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self):
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxAuthRequest(transport.Request):
    """google-auth's transport interface over httpx.

    google-auth ships adapters for requests and urllib3 only; this project uses
    httpx everywhere and does not install requests, so the token refresh goes
    through this ~20-line adapter instead.
    """

    def __init__(self, client: httpx.Client):
        self._client = client

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout if timeout is not None else TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise google_exceptions.TransportError(exc) from exc
        return _Response(response)


_credentials: dict[str, service_account.Credentials] = {}
_credentials_lock = threading.Lock()


def parse_service_account(raw_json: str) -> dict:
    """The service-account key as a dict; ``ValueError`` with a readable reason if unusable."""
    try:
        info = json.loads(raw_json)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError("The service account key is not valid JSON.") from exc
    if not isinstance(info, dict):
        raise ValueError("The service account key must be a JSON object.")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise ValueError(f"The service account key lacks {', '.join(missing)}.")
    try:
        service_account.Credentials.from_service_account_info(info, scopes=[CALENDAR_SCOPE])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"The service account key is not usable: {exc}") from exc
    return info


def credentials_for(*, raw_json: str, delegated_user: str = "") -> service_account.Credentials:
    """Credentials for a key, cached per process so the access token (1 h) is reused."""
    cache_key = hashlib.sha256(f"{delegated_user}\0{raw_json}".encode()).hexdigest()
    with _credentials_lock:
        creds = _credentials.get(cache_key)
        if creds is None:
            creds = service_account.Credentials.from_service_account_info(
                parse_service_account(raw_json), scopes=[CALENDAR_SCOPE]
            )
            if delegated_user:
                creds = creds.with_subject(delegated_user)
            _credentials[cache_key] = creds
        return creds


def meet_link_of(event: dict) -> str:
    if event.get("hangoutLink"):
        return event["hangoutLink"]
    for entry in (event.get("conferenceData") or {}).get("entryPoints") or []:
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return entry["uri"]
    return ""


def conference_pending(event: dict) -> bool:
    status = ((event.get("conferenceData") or {}).get("createRequest") or {}).get("status") or {}
    return status.get("statusCode") == "pending"


class GoogleCalendarClient:
    """Events of one calendar, authenticated as a service account."""

    def __init__(
        self,
        *,
        calendar_id: str,
        credentials: service_account.Credentials,
        base_url: str | None = None,
        http: httpx.Client | None = None,
    ):
        self.calendar_id = calendar_id
        self.credentials = credentials
        self.base_url = (base_url or settings.GOOGLE_CALENDAR_API_URL).rstrip("/")
        self.http = http or httpx.Client(timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _token(self, *, force: bool = False) -> str:
        if force or not self.credentials.valid:
            try:
                self.credentials.refresh(HttpxAuthRequest(self.http))
            except google_exceptions.RefreshError as exc:
                # The token endpoint refused the key (revoked, wrong scopes, no delegation).
                retryable = bool(getattr(exc, "retryable", False))
                raise CalendarError(f"Google refused the service account: {exc}", retryable=retryable) from exc
            except google_exceptions.TransportError as exc:
                raise CalendarError(f"Could not reach Google's token endpoint: {exc}", retryable=True) from exc
        return self.credentials.token

    def _events_url(self, event_id: str = "") -> str:
        url = f"{self.base_url}/calendars/{quote(self.calendar_id, safe='')}/events"
        return f"{url}/{quote(event_id, safe='')}" if event_id else url

    def _call(self, method: str, url: str, *, params: dict | None = None, body: dict | None = None) -> httpx.Response:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self._token(force=attempt > 0)}"}
            try:
                response = self.http.request(method, url, params=params, json=body, headers=headers)
            except httpx.HTTPError as exc:
                raise CalendarError(f"Could not reach Google Calendar: {exc}", retryable=True) from exc
            # A 401 means the cached token was revoked or expired early: refresh once.
            if response.status_code != 401:
                return response
        return response

    @staticmethod
    def _raise_for(response: httpx.Response, action: str) -> None:
        if response.is_success:
            return
        try:
            message = response.json().get("error", {}).get("message", "")
        except ValueError:
            message = response.text[:200]
        raise CalendarError(
            f"Google Calendar {action} failed ({response.status_code}): {message}".strip(),
            status=response.status_code,
            retryable=response.status_code in RETRYABLE_STATUSES,
        )

    def insert_event(self, event: dict) -> dict:
        response = self._call(
            "POST", self._events_url(), params={"conferenceDataVersion": 1, "sendUpdates": "none"}, body=event
        )
        self._raise_for(response, "events.insert")
        return response.json()

    def patch_event(self, event_id: str, event: dict) -> dict:
        response = self._call(
            "PATCH",
            self._events_url(event_id),
            params={"conferenceDataVersion": 1, "sendUpdates": "none"},
            body=event,
        )
        self._raise_for(response, "events.patch")
        return response.json()

    def delete_event(self, event_id: str) -> bool:
        """Delete an event; False if Google had no such event (already deleted: 404/410)."""
        response = self._call("DELETE", self._events_url(event_id), params={"sendUpdates": "none"})
        if response.status_code in (404, 410):
            return False
        self._raise_for(response, "events.delete")
        return True
