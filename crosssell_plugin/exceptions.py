"""The errors crosssell raises.

Every class doubles as the built-in a caller would naturally catch (``ValueError`` for
bad input, ``ImproperlyConfigured`` for settings, ``ImportError`` for a missing extra),
so code that does not know crosssell still handles them sensibly.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class CrossSellError(Exception):
    """Base class of every error raised by crosssell."""


class InvalidEvent(CrossSellError, ValueError):
    """An event (purchase, catalog item, consumption, refund) failed validation.

    ``field`` is the dotted path of the offending value inside the event, for example
    ``lines[2].quantity`` or ``customer.email``; nothing has been written when this is raised.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class PayloadTooLarge(InvalidEvent):
    """An event or its raw payload is larger than ``CROSSSELL["MAX_EVENT_BYTES"]``."""


class UnknownStore(CrossSellError, LookupError):
    """An event names a store that has not been created."""

    def __init__(self, platform: str, external_id: str) -> None:
        self.platform = platform
        self.external_id = external_id
        super().__init__(
            f"No crosssell Store for platform={platform!r} external_id={external_id!r}. "
            "Create it in the admin (Crosssell > Stores) or let the platform adapter create it "
            "when the store is installed."
        )


class ConfigurationError(CrossSellError, ImproperlyConfigured):
    """A ``CROSSSELL`` setting is missing or has a wrong value."""


class ImproperlyInstalled(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the pip extra to install."""

    def __init__(self, missing_package: str, extra: str) -> None:
        self.missing_package = missing_package
        self.extra = extra
        super().__init__(f'{missing_package} is not installed. Install it with: pip install "crosssell[{extra}]"')


class UnsupportedFeature(CrossSellError, ValueError):
    """A platform adapter was asked for something its platform cannot do."""


class PlatformAPIError(CrossSellError):
    """A platform's HTTP API answered with an error (kept with its status and body)."""

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        status_code: int | None = None,
        response_text: str = "",
    ) -> None:
        self.platform = platform
        self.status_code = status_code
        self.response_text = response_text
        super().__init__(message)

    def __str__(self) -> str:
        text = super().__str__()
        if self.status_code is not None:
            text += f" (HTTP {self.status_code} from {self.platform or 'platform'}"
            if self.response_text:
                text += f": {self.response_text[:500]}"
            text += ")"
        return text
