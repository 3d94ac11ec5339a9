"""Money helpers: ISO 4217 currencies, their minor units, Decimal validation, and prices as a
shopper reads them (:func:`format_price`, with Babel's locale data).

Money in crosssell is always a ``Decimal`` together with an ISO 4217 currency code;
floats are rejected at the edges so that rounding never silently changes a price.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.core import UnknownLocaleError
from babel.numbers import format_currency
from django.conf import settings
from django.utils.translation import get_language, to_locale

# Active ISO 4217 codes (list one, 2025). Minor units are 2 unless listed in _EXPONENTS.
CURRENCIES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()
)

_EXPONENTS: dict[str, int] = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}


#: amounts are stored with 14 digits, 4 of them decimals
MAX_AMOUNT = Decimal(10) ** 10


def is_currency(code: object) -> bool:
    """True when ``code`` is an active ISO 4217 code written in upper case."""
    return isinstance(code, str) and code in CURRENCIES


def minor_units(currency: str) -> int:
    """Number of decimal places the currency uses (2 for USD, 0 for JPY, 3 for KWD)."""
    return _EXPONENTS.get(currency, 2)


def parse_amount(value: object, currency: str, *, allow_negative: bool = False) -> Decimal:
    """Turn ``value`` (Decimal, int or numeric string) into a Decimal valid for ``currency``.

    Raises ``ValueError`` with a readable message: floats are refused (they cannot
    represent prices exactly), as are NaN/infinity, negative amounts (unless allowed)
    and more decimal places than the currency has.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"must be a Decimal or a string such as '9.99', not {type(value).__name__} {value!r}")
    if not isinstance(value, Decimal | int | str):
        raise ValueError(f"must be a Decimal or a numeric string, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite amount")
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"{amount} is too large (the limit is below {MAX_AMOUNT:,})")
    if amount < 0 and not allow_negative:
        raise ValueError(f"must not be negative (got {amount})")
    places = minor_units(currency)
    quantum = Decimal(1).scaleb(-places)
    if amount != amount.quantize(quantum):
        raise ValueError(f"{amount} has more decimal places than {currency} allows ({places})")
    return amount.quantize(quantum)


def format_amount(amount: Decimal, currency: str) -> str:
    """``amount`` with the currency's own number of decimals, then the code: ``9.99 EUR``."""
    return f"{amount.quantize(Decimal(1).scaleb(-minor_units(currency)))} {currency}"


def format_price(amount: Decimal, currency: str) -> str:
    """``amount`` in ``currency`` for the active language ("€9.99" in en, "9,99 €" in fr), with
    Babel; "9.99 EUR" for a locale Babel does not know."""
    locale = to_locale(get_language() or settings.LANGUAGE_CODE)
    try:
        return format_currency(amount, currency, locale=locale)
    except (UnknownLocaleError, ValueError):
        return f"{amount:.2f} {currency}"
