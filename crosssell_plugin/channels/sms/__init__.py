"""The SMS channel: :mod:`.channel` (the channel and its backends, console and Twilio-style) and
:mod:`.inbound` (the replies: STOP and the other opt-out words). Everything is importable from here,
as from ``crosssell_plugin.channels.sms`` before (``CROSSSELL["SMS"]["BACKEND"]`` names
``crosssell_plugin.channels.sms.ConsoleSmsBackend`` or ``...TwilioSmsBackend``)."""

from .channel import (
    MAX_SMS_LENGTH,
    MIN_TITLE_LENGTH,
    SEPARATORS,
    SMS_RECOMMENDATIONS,
    TWILIO_OPTED_OUT,
    ConsoleSmsBackend,
    SmsChannel,
    TwilioSmsBackend,
    fit_sms,
    get_sms_backend,
    normalize_e164,
    parse_retry_after,
    phone_of,
    sms_options,
)
from .inbound import (
    EMPTY_TWIML,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    SOURCE,
    customers_with_phone,
    is_valid_signature,
    twilio_signature,
    withdraw_sms_consent,
)

__all__ = [
    "EMPTY_TWIML",
    "MAX_SMS_LENGTH",
    "MIN_TITLE_LENGTH",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "SEPARATORS",
    "SMS_RECOMMENDATIONS",
    "SOURCE",
    "TWILIO_OPTED_OUT",
    "ConsoleSmsBackend",
    "SmsChannel",
    "TwilioSmsBackend",
    "customers_with_phone",
    "fit_sms",
    "get_sms_backend",
    "is_valid_signature",
    "normalize_e164",
    "parse_retry_after",
    "phone_of",
    "sms_options",
    "twilio_signature",
    "withdraw_sms_consent",
]
