"""A project's own ``CROSSSELL["SHOPPER_EMAIL_VERIFIED"]`` for the tests: the site marks the users
whose address it has confirmed by putting them in a group."""

from __future__ import annotations

from typing import Any

#: the group of the users whose email the site has confirmed
VERIFIED_GROUP = "email verified"
#: the dotted path to write in ``CROSSSELL["SHOPPER_EMAIL_VERIFIED"]``
EMAIL_VERIFIED = "tests.shoppers_support.email_verified_by_group"


def email_verified_by_group(user: Any) -> bool:
    return bool(user.groups.filter(name=VERIFIED_GROUP).exists())


def verify_email(user: Any) -> None:
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get_or_create(name=VERIFIED_GROUP)[0])


#: not a function: the system check refuses it
NOT_CALLABLE = 42


def says_yes(user: Any) -> str:
    """Truthy, but not True: not a verified email."""
    return "yes"
