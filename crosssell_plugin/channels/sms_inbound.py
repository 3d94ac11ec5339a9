"""Moved to :mod:`crosssell_plugin.channels.sms.inbound`; importable from here as before."""

from .sms.inbound import (
    EMPTY_TWIML,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    SOURCE,
    _phone_pattern,
    customers_with_phone,
    inbound,
    is_valid_signature,
    twilio_signature,
    withdraw_sms_consent,
)

__all__ = [
    "EMPTY_TWIML",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "SOURCE",
    "_phone_pattern",
    "customers_with_phone",
    "inbound",
    "is_valid_signature",
    "twilio_signature",
    "withdraw_sms_consent",
]
