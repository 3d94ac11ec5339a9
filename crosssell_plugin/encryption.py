"""Secrets encrypted at rest: :class:`EncryptedTextField` and the keys behind it.

Platform credentials (a Stripe secret key, a webhook signing secret, an access token) are stored
with Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package), never in clear::

    class StripeAccount(models.Model):
        secret_key = EncryptedTextField()

Keys, in ``CROSSSELL["ENCRYPTION_KEYS"]``: a list of Fernet keys; the first encrypts, every one
decrypts. Without it, keys are derived (HKDF-SHA256) from ``SECRET_KEY`` and then each of
``SECRET_KEY_FALLBACKS``, so rotating Django's secret key the documented way keeps old values
readable. To rotate: put the new key first, keep the old ones after it, run
:func:`reencrypt` for each encrypted field (or re-save the rows), then drop the old keys.

A value that no key decrypts raises :class:`~crosssell_plugin.exceptions.ConfigurationError`
naming the setting; the secret itself is never part of a message or a log line.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .conf import crosssell_settings
from .exceptions import ConfigurationError

try:
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError:  # pragma: no cover - the platform extras install it
    Fernet = None  # type: ignore[assignment,misc]

#: what marks an encrypted value in the database (so a column is never read as clear text by mistake)
PREFIX = "fernet:"
_INFO = b"crosssell encrypted fields"


def _derived(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


def keys() -> list[bytes]:
    """The Fernet keys in use, the encrypting one first."""
    if Fernet is None:
        raise ConfigurationError(
            "cryptography is not installed: install the extra of the platform that stores secrets "
            '(it includes "cryptography>=42").'
        )
    configured = crosssell_settings.ENCRYPTION_KEYS
    if configured:
        return [key.encode() for key in configured]
    return [_derived(secret) for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]]


def _fernet() -> Any:
    return MultiFernet([Fernet(key) for key in keys()])


def encrypt(value: str) -> str:
    """``value`` encrypted with the first key, as text for a database column."""
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    """The clear text of a value :func:`encrypt` returned, with whichever key encrypted it."""
    if not stored.startswith(PREFIX):
        raise ConfigurationError("An encrypted field holds a value that was not encrypted by crosssell.")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ConfigurationError(
            'No key decrypts a stored secret: the key that encrypted it is missing from CROSSSELL["ENCRYPTION_KEYS"] '
            "(or, without that setting, from SECRET_KEY and SECRET_KEY_FALLBACKS)."
        ) from None


def reencrypt(stored: str) -> str:
    """``stored`` encrypted again with the first key (for a key rotation)."""
    return PREFIX + _fernet().rotate(stored[len(PREFIX) :].encode()).decode()


class EncryptedTextField(models.TextField):
    """Text encrypted at rest. Not searchable (each encryption differs); blank stays blank.

    Serialized (``dumpdata``, fixtures) as its encrypted text, never in clear; ``loaddata`` reads
    that back through :meth:`to_python`, which decrypts a value carrying the :data:`PREFIX`."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return encrypt(value) if value else (value or "")

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if isinstance(value, str) and value.startswith(PREFIX):
            try:
                return decrypt(value)
            except ConfigurationError as err:
                raise ValidationError(str(err), code="undecryptable") from None
        return value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
