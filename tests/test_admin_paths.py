"""Paths a person edits in the admin: a step's delay in words ("24 hours", "1 day 2 hours"),
read back the same way; a path's item kinds ticked and its categories picked from the store's
genres and tags (others typed), saved as the lists of strings the planner reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crosssell_plugin.admin.forms import PathForm, format_delay, parse_delay, store_categories
from crosssell_plugin.events import ItemKind
from crosssell_plugin.models import Item, Path, Step, Store

# --- the parser (no database) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 hour", timedelta(hours=1)),
        ("24 hours", timedelta(hours=24)),
        ("7 days", timedelta(days=7)),
        ("90 minutes", timedelta(minutes=90)),
        ("1 day 2 hours", timedelta(days=1, hours=2)),
        ("1 day, 2 hours and 30 minutes", timedelta(days=1, hours=2, minutes=30)),
        ("  2 Weeks ", timedelta(days=14)),
        ("1.5 hours", timedelta(minutes=90)),
        ("3h", timedelta(hours=3)),
        ("0 minutes", timedelta(0)),
        ("1:00:00", timedelta(hours=1)),  # what the admin showed before
        ("7 days, 0:00:00", timedelta(days=7)),
    ],
)
def test_parse_delay_reads_what_a_person_writes(text: str, expected: timedelta) -> None:
    assert parse_delay(text) == expected


@pytest.mark.parametrize(
    ("delay", "shown"),
    [
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=24), "1 day"),
        (timedelta(days=7), "7 days"),
        (timedelta(minutes=90), "1 hour 30 minutes"),
        (timedelta(days=1, hours=2), "1 day 2 hours"),
        (timedelta(seconds=45), "45 seconds"),
        (timedelta(0), "0 minutes"),
    ],
)
def test_format_delay_writes_it_back_in_words(delay: timedelta, shown: str) -> None:
    assert format_delay(delay) == shown
    assert parse_delay(shown) == delay


@pytest.mark.parametrize("minutes", [0, 1, 59, 60, 61, 1439, 1440, 1441, 10080, 10081, 525500])
def test_a_delay_survives_the_round_trip(minutes: int) -> None:
    delay = timedelta(minutes=minutes, seconds=minutes % 7)
    assert parse_delay(format_delay(delay)) == delay


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("soon", "“soon” is not a delay"),
        ("5 parsecs", "“parsecs” is not a unit of time"),
        ("1 hour later", "is not a delay"),
        ("-1 hours", "is not a delay"),
        ("", "Give a delay"),
        ("400 days", "at most 365 days"),
        ("0.0001 seconds", "not a whole number of seconds"),
        ("12:xx", "is not a delay"),
    ],
)
def test_bad_delays_name_the_accepted_forms(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_delay(text)
    assert problem in str(caught.value)
    if text:
        assert "“24 hours”" in str(caught.value) or "365 days" in str(caught.value)


# --- the path and step forms ---------------------------------------------------------------------


def _item(store: Store, external_id: str, genres: list[str], tags: list[str]) -> Item:
    return Item.objects.create(
        store=store,
        external_id=external_id,
        kind="film",
        title=f"Film {external_id}",
        price=Decimal("9.99"),
        currency="EUR",
        genres=genres,
        tags=tags,
    )


@pytest.fixture
def catalog(store: Store) -> Store:
    _item(store, "a", ["Drama", "Comedy"], ["award-winner"])
    _item(store, "b", ["drama"], ["Festival"])
    _item(store, "c", ["Documentary"], [])
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    _item(other, "z", ["Horror"], ["secret-tag"])
    return store


def _path_data(store: Store, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "store": store.pk,
        "name": "After a film",
        "enabled": "on",
        "platform": "",
        "item_kinds": ["film", "course"],
        "categories": ["Drama", "Festival"],
        "new_categories": "Noir, Western , drama",
        "min_order_value": "",
        "min_order_currency": "",
        "buyers": "any",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for n, (name, delay) in enumerate([("Soon", "90 minutes"), ("Later", "1 day 2 hours")]):
        data.update(
            {
                f"steps-{n}-position": str(n + 1),
                f"steps-{n}-name": name,
                f"steps-{n}-delay": delay,
                f"steps-{n}-channel": "email",
                f"steps-{n}-template": "soft_upsell",
                f"steps-{n}-subject": "",
                f"steps-{n}-limit": "3",
                f"steps-{n}-offer_code": "",
                f"steps-{n}-offer_percent": "",
                f"steps-{n}-skip_if_bought": "on",
                f"steps-{n}-skip_if_refunded": "on",
            }
        )
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_categories_offered_are_the_stores_genres_and_tags_most_common_first(catalog: Store) -> None:
    offered = store_categories(catalog)
    assert offered[0] == "Drama"  # twice, in two spellings: one choice
    assert sorted(offered[1:]) == ["Comedy", "Documentary", "Festival", "award-winner"]
    assert "Horror" not in offered and "secret-tag" not in offered  # another store's


@pytest.mark.django_db
def test_a_path_posted_with_kinds_categories_and_steps_in_words_is_saved_as_lists(
    admin_client: Any, catalog: Store
) -> None:
    response = admin_client.post(reverse("admin:crosssell_path_add"), _path_data(catalog))
    assert response.status_code == 302, response.context["adminform"].form.errors
    path = Path.objects.for_store(catalog).get(name="After a film")
    assert path.item_kinds == ["film", "course"]
    assert path.categories == ["Drama", "Festival", "Noir", "Western"]  # "drama" typed again: once
    assert all(isinstance(c, str) for c in path.categories)
    steps = list(path.steps.order_by("position"))
    assert [s.delay for s in steps] == [timedelta(minutes=90), timedelta(days=1, hours=2)]

    page = admin_client.get(reverse("admin:crosssell_path_change", args=[path.pk])).content.decode()
    assert 'value="1 hour 30 minutes"' in page and 'value="1 day 2 hours"' in page
    assert 'value="course" checked' in page or ('value="course"' in page and "checked" in page)
    form = admin_client.get(reverse("admin:crosssell_path_change", args=[path.pk])).context["adminform"].form
    assert form.initial["item_kinds"] == ["film", "course"]
    assert form.initial["categories"] == ["Drama", "Festival", "Noir", "Western"]
    choices = [value for value, _ in form.fields["categories"].choices]
    assert {"Drama", "Comedy", "Documentary", "Festival", "award-winner", "Noir", "Western"} == set(choices)
    assert [value for value, _ in form.fields["item_kinds"].choices] == [k.value for k in ItemKind]


@pytest.mark.django_db
def test_a_bad_delay_is_a_form_error_naming_the_accepted_forms(admin_client: Any, catalog: Store) -> None:
    response = admin_client.post(reverse("admin:crosssell_path_add"), _path_data(catalog, **{"steps-1-delay": "soon"}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "is not a delay" in body and "24 hours" in body and "1 day 2 hours" in body
    assert not Path.objects.filter(name="After a film").exists()


@pytest.mark.django_db
def test_an_unknown_kind_is_refused_and_no_kind_means_any(admin_client: Any, catalog: Store) -> None:
    bad = admin_client.post(reverse("admin:crosssell_path_add"), _path_data(catalog, item_kinds=["vinyl"]))
    assert bad.status_code == 200 and "item_kinds" in bad.context["adminform"].form.errors
    data = _path_data(catalog, categories=[], new_categories="")
    del data["item_kinds"]
    assert admin_client.post(reverse("admin:crosssell_path_add"), data).status_code == 302
    path = Path.objects.for_store(catalog).get(name="After a film")
    assert (path.item_kinds, path.categories) == ([], [])


@pytest.mark.django_db
def test_values_saved_before_are_kept_when_the_path_is_edited(admin_client: Any, catalog: Store) -> None:
    path = Path.objects.create(store=catalog, name="Old", item_kinds=["FILM", "vinyl"], categories=["Gone genre"])
    Step.objects.create(path=path, position=1, name="One", delay=timedelta(hours=24), template="bundle")
    form = PathForm(instance=path)
    assert form.initial["item_kinds"] == ["film", "vinyl"]  # the odd old value is a choice, still ticked
    assert "Gone genre" in [value for value, _ in form.fields["categories"].choices]
    step = path.steps.get()
    data = _path_data(
        catalog,
        name="Old",
        item_kinds=["film", "vinyl"],
        categories=["Gone genre"],
        new_categories="",
        **{
            "steps-TOTAL_FORMS": "1",
            "steps-INITIAL_FORMS": "1",
            "steps-0-id": str(step.pk),
            "steps-0-path": str(path.pk),
            "steps-0-position": "1",
            "steps-0-name": "One",
            "steps-0-delay": "1 day",
            "steps-0-template": "bundle",
        },
    )
    response = admin_client.post(reverse("admin:crosssell_path_change", args=[path.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    path.refresh_from_db()
    assert (path.item_kinds, path.categories) == (["film", "vinyl"], ["Gone genre"])
    assert path.steps.get().delay == timedelta(days=1)


@pytest.mark.django_db
def test_the_add_page_offers_the_chosen_stores_categories_only(admin_client: Any, catalog: Store) -> None:
    blank = admin_client.get(reverse("admin:crosssell_path_add")).context["adminform"].form
    assert list(blank.fields["categories"].choices) == []  # no store chosen: nothing of any store
    chosen = admin_client.get(reverse("admin:crosssell_path_add"), {"store": catalog.pk})
    choices = [value for value, _ in chosen.context["adminform"].form.fields["categories"].choices]
    assert "Drama" in choices and "Horror" not in choices
