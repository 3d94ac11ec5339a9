"""System checks of ``CROSSSELL["PLATFORMS"]["oscar"]`` (integrations/oscar/checks.py), through Django's runner."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, run_checks

OSCAR_IDS = {"crosssell.E010", "crosssell.E011", "crosssell.E012"}


def oscar_messages(settings: Any, oscar_options: Any) -> dict[str, list[Error]]:
    settings.CROSSSELL = {"PLATFORMS": {"oscar": oscar_options}}
    found: dict[str, list[Error]] = {}
    for message in run_checks():
        if message.id in OSCAR_IDS:
            found.setdefault(message.id, []).append(message)
    return found


def test_an_unknown_key_is_reported_with_the_closest_known_one(settings: Any) -> None:
    found = oscar_messages(settings, {"STORE_NAM": "Reel & Learn", "BASE_URL": "https://shop.example.com"})

    assert list(found) == ["crosssell.E010"]
    [error] = found["crosssell.E010"]
    assert isinstance(error, Error)
    assert "'STORE_NAM'" in error.msg
    assert error.hint.startswith('Did you mean "STORE_NAME"? ')
    assert "SYNC_CATALOG_ON_SAVE" in error.hint


def test_an_unknown_key_far_from_every_known_one_gets_no_guess(settings: Any) -> None:
    found = oscar_messages(settings, {"zzz": 1})

    [error] = found["crosssell.E010"]
    assert "Did you mean" not in error.hint
    assert error.hint.startswith("Known keys: ")


@pytest.mark.parametrize("currency", ["eur", "EURO", "XXX", 978])
def test_a_currency_that_is_not_an_upper_case_iso_code_is_reported(settings: Any, currency: Any) -> None:
    found = oscar_messages(settings, {"CURRENCY": currency})

    assert list(found) == ["crosssell.E011"]
    assert repr(currency) in found["crosssell.E011"][0].msg


@pytest.mark.parametrize(
    "kinds",
    [
        {"dvd": "movie"},
        {"dvd": "film", "t-shirt": "Merch"},
        ["dvd", "film"],
        "film",
        None,
        {"dvd": ["film"]},  # an unhashable value must be reported, not crash the check run
    ],
)
def test_a_bad_kind_by_product_class_is_reported(settings: Any, kinds: Any) -> None:
    found = oscar_messages(settings, {"KIND_BY_PRODUCT_CLASS": kinds})

    assert list(found) == ["crosssell.E012"]
    assert "film" in found["crosssell.E012"][0].hint


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"CURRENCY": None},
        {
            "STORE_EXTERNAL_ID": "main",
            "STORE_NAME": "Reel & Learn",
            "CURRENCY": "EUR",
            "BASE_URL": "https://shop.example.com",
            "KIND_BY_PRODUCT_CLASS": {"dvd": "film", "t-shirt": "merch", "lessons": "module"},
            "SYNC_CATALOG_ON_SAVE": False,
        },
    ],
)
def test_valid_options_give_no_oscar_errors(settings: Any, options: Any) -> None:
    assert oscar_messages(settings, options) == {}


def test_the_project_settings_give_no_oscar_errors() -> None:
    assert not [m for m in run_checks() if m.id in OSCAR_IDS or m.id == "crosssell.W010"]


def test_oscar_options_that_are_not_a_dict_are_left_to_the_core_check(settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"oscar": "Reel & Learn"}}

    ids = [m.id for m in run_checks()]

    assert "crosssell.E003" in ids
    assert not OSCAR_IDS & set(ids)
