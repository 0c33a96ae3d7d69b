"""Everything the sandbox remembers, behind one lock: numbers, sends, media, templates and
the failures queued with ``fail_next``/``delay_next``/``drop_connection_next``."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .wire import DEFAULT_DISPLAY_PHONE_NUMBER, DEFAULT_WABA_ID, new_object_id


@dataclass
class Number:
    phone_number_id: str
    tokens: set[str]
    waba_id: str
    display_phone_number: str
    # As GET /<PHONE_NUMBER_ID> reports them: status CONNECTED, PENDING, FLAGGED, RESTRICTED…;
    # quality_rating GREEN, YELLOW, RED or UNKNOWN. Tests register a number that is not fine.
    quality_rating: str = "GREEN"
    status: str = "CONNECTED"


@dataclass
class Media:
    media_id: str
    data: bytes
    mime_type: str
    phone_number_id: str | None
    filename: str | None
    sha256_hex: str


@dataclass
class FailureRule:
    code: int
    remaining: int
    http_status: int
    title: str | None = None
    details: str | None = None
    plain: bool = False
    asynchronous: bool = False
    to: str | None = None


@dataclass
class Simulation:
    """A counted effect on the next sends (``delay``/``drop``)."""

    remaining: int
    seconds: float = 0.0
    after_processing: bool = False
    to: str | None = None


@dataclass
class SandboxState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    numbers: dict[str, Number] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, Media] = field(default_factory=dict)
    templates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failures: list[FailureRule] = field(default_factory=list)
    delays: list[Simulation] = field(default_factory=list)
    drops: list[Simulation] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        with self.lock:
            for value in (self.numbers, self.media, self.templates):
                value.clear()
            for items in (self.sent, self.reads, self.failures, self.delays, self.drops, self.requests):
                items.clear()

    # -- numbers and tokens ---------------------------------------------------------------

    def register_number(
        self,
        phone_number_id: str,
        token: str,
        waba_id: str | None = None,
        display_phone_number: str | None = None,
        quality_rating: str | None = None,
        status: str | None = None,
    ) -> Number:
        with self.lock:
            number = self.numbers.get(phone_number_id)
            if number is None:
                number = Number(
                    phone_number_id,
                    set(),
                    waba_id or DEFAULT_WABA_ID,
                    display_phone_number or DEFAULT_DISPLAY_PHONE_NUMBER,
                )
                self.numbers[phone_number_id] = number
            number.tokens.add(token)
            if waba_id:
                number.waba_id = waba_id
            if display_phone_number:
                number.display_phone_number = display_phone_number
            if quality_rating:
                number.quality_rating = quality_rating
            if status:
                number.status = status
            return number

    def number(self, phone_number_id: str) -> Number:
        """The registered number, or defaults for an unregistered one (open mode)."""
        with self.lock:
            return self.numbers.get(phone_number_id) or Number(
                phone_number_id, set(), DEFAULT_WABA_ID, DEFAULT_DISPLAY_PHONE_NUMBER
            )

    def strict(self) -> bool:
        """Once any number is registered, unknown numbers and wrong tokens are refused."""
        with self.lock:
            return bool(self.numbers)

    def tokens_for_waba(self, waba_id: str) -> set[str] | None:
        with self.lock:
            numbers = [n for n in self.numbers.values() if n.waba_id == waba_id]
            if not numbers:
                return None
            return set().union(*(n.tokens for n in numbers))

    # -- simulations ----------------------------------------------------------------------

    def take_failure(self, to: str) -> FailureRule | None:
        with self.lock:
            for rule in self.failures:
                if rule.to is None or rule.to == to:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.failures.remove(rule)
                    return rule
            return None

    def take(self, queue: list[Simulation], to: str | None = None) -> Simulation | None:
        """The first queued simulation for any recipient or for ``to``, counted down."""
        with self.lock:
            for sim in queue:
                if sim.to is None or sim.to == to:
                    sim.remaining -= 1
                    if sim.remaining <= 0:
                        queue.remove(sim)
                    return sim
            return None

    # -- media and templates --------------------------------------------------------------

    def add_media(
        self,
        media_id: str | None,
        data: bytes,
        mime_type: str,
        *,
        phone_number_id: str | None = None,
        filename: str | None = None,
    ) -> Media:
        with self.lock:
            media_id = media_id or new_object_id()
            media = Media(
                media_id,
                data,
                mime_type,
                phone_number_id,
                filename,
                hashlib.sha256(data).hexdigest(),
            )
            self.media[media_id] = media
            return media

    def add_template(self, waba_id: str, template: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.templates.setdefault(waba_id, []).append(template)
            return template

    def find_template(self, waba_id: str, name: str, language: str) -> dict[str, Any] | None:
        """The template, or None; ``{}`` when the WABA has no templates (not checked)."""
        with self.lock:
            templates = self.templates.get(waba_id)
            if not templates:
                return {}
            for template in templates:
                if template["name"] == name and template["language"] == language:
                    return template
            return None

    def log_request(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "status": status, "at": time.time()})
