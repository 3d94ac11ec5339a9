"""Who an event is about: the store (:class:`StoreRef`), the customer and their consents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ..exceptions import InvalidEvent
from .kinds import (
    Channel,
    Platform,
)
from .validation import (
    _aware,
    _enum,
    _set,
    _text,
)

# --- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreRef:
    """Which tenant an event belongs to: the platform and the store's id on it."""

    platform: str
    external_id: str

    def __post_init__(self) -> None:
        _set(self, "platform", _enum("store.platform", Platform, self.platform))
        _set(
            self,
            "external_id",
            _text("store.external_id", self.external_id, max_length=255, required=True),
        )


@dataclass(frozen=True)
class Consent:
    """A customer's marketing consent (or its withdrawal) for one channel."""

    channel: str
    granted: bool
    source: str
    recorded_at: datetime

    def validate(self, path: str) -> None:
        _set(self, "channel", _enum(f"{path}.channel", Channel, self.channel))
        if not isinstance(self.granted, bool):
            raise InvalidEvent(f"{path}.granted", "must be true or false")
        _set(
            self,
            "source",
            _text(f"{path}.source", self.source, max_length=100, required=True),
        )
        _set(self, "recorded_at", _aware(f"{path}.recorded_at", self.recorded_at))


@dataclass(frozen=True)
class CustomerData:
    """The buyer as the platform knows them. ``email`` identifies them within a store."""

    email: str
    external_id: str = ""
    first_name: str = ""
    last_name: str = ""
    locale: str = ""
    country: str = ""
    timezone: str = ""
    phone: str = ""
    consents: tuple[Consent, ...] = ()

    def validate(self, path: str) -> None:
        email = _text(f"{path}.email", self.email, max_length=254, required=True)
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidEvent(f"{path}.email", f"{email!r} is not a valid email address") from None
        # One person, one customer: stores treat addresses case-insensitively.
        _set(self, "email", email.lower())
        for name, limit in (
            ("external_id", 255),
            ("first_name", 150),
            ("last_name", 150),
            ("phone", 32),
        ):
            _set(
                self,
                name,
                _text(
                    f"{path}.{name}",
                    getattr(self, name),
                    max_length=limit,
                    required=False,
                ),
            )
        _set(
            self,
            "locale",
            _text(f"{path}.locale", self.locale, max_length=35, required=False),
        )
        country = _text(f"{path}.country", self.country, max_length=2, required=False).upper()
        if country and not (len(country) == 2 and country.isalpha() and country.isascii()):
            raise InvalidEvent(
                f"{path}.country",
                f"{country!r} is not an ISO 3166 alpha-2 code such as 'FR'",
            )
        _set(self, "country", country)
        tz = _text(f"{path}.timezone", self.timezone, max_length=64, required=False)
        if tz:
            _check_timezone(f"{path}.timezone", tz)
        _set(self, "timezone", tz)
        consents = tuple(self.consents or ())
        for i, consent in enumerate(consents):
            if not isinstance(consent, Consent):
                raise InvalidEvent(f"{path}.consents[{i}]", "must be a Consent")
            consent.validate(f"{path}.consents[{i}]")
        _set(self, "consents", consents)


def _check_timezone(path: str, name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidEvent(path, f"{name!r} is not an IANA time zone such as 'Europe/Paris'") from None
