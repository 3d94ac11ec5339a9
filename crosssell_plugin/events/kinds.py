"""The enumerations events use: platforms (the one list of platform ids a Store may have), item
kinds, channels; and the bounds of a quantity."""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    OSCAR = "oscar"
    SHOPIFY = "shopify"
    TEACHABLE = "teachable"
    VIMEO_OTT = "vimeo_ott"
    STRIPE = "stripe"
    IMPORT = "import"  # orders loaded from CSV files
    CUSTOM = "custom"  # any other Django store calling record_purchase() itself


class ItemKind(StrEnum):
    FILM = "film"
    SERIES = "series"
    EPISODE = "episode"
    COURSE = "course"
    MODULE = "module"
    MERCH = "merch"
    BUNDLE = "bundle"
    SUBSCRIPTION = "subscription"
    #: any other physical product (what a store sells when it is neither media, learning nor merchandise)
    PRODUCT = "product"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"


#: the largest quantity one order line may carry
MAX_QUANTITY = 1_000_000
