"""Admin forms that a store owner fills in with words and choices, never raw JSON.

The Store form: a store's own business rules as real fields. Unticked "Own rules", the store
follows the site's rules (``CROSSSELL["RULES"]`` and ``CROSSSELL["MARGIN_WEIGHT"]``), which the
fields show; ticked, the fields are saved as ``Store.rules`` (every key, so a later change of the
settings no longer reaches this store).

The Path and Step forms: a step's delay written as "24 hours" or "1 day 2 hours"
(:func:`parse_delay`, :func:`format_delay`), a path's item kinds ticked and its categories picked
from the genres and tags of the store's items (others typed, separated by commas).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.utils.dateparse import parse_duration

from ..conf import STORE_RULE_KEYS, described, rules_problem
from ..events import ItemKind
from ..models import Item, Path, Step, Store
from ..recommend.rules_config import effective_rules

KINDS = [k.value for k in ItemKind]


def _cap_field(kind: str) -> str:
    return f"cap_{kind}"


def _cap(kind: str) -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=0,
        max_value=1000,
        label=f"{kind.title()}: at most",
        help_text=f"How many {kind} items come before the other kinds (the rest follow them, never removed; "
        "a store selling only this kind is not affected). Blank = no cap.",
    )


#: one "at most N of this kind first" field per kind
_KindCaps = type("_KindCaps", (forms.Form,), {_cap_field(kind): _cap(kind) for kind in KINDS})


class StoreForm(_KindCaps, forms.ModelForm):
    own_rules = forms.BooleanField(
        required=False,
        label="Own rules",
        help_text="Ticked, this store follows the rules below. Unticked, it follows the site's "
        '(CROSSSELL["RULES"] in the settings), which the fields show.',
    )
    excluded_kinds = forms.MultipleChoiceField(
        choices=[(k, k.title()) for k in KINDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Never recommend these kinds",
    )
    excluded_items = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Never recommend these items",
        help_text="The items' ids on the platform, separated by commas, spaces or new lines.",
    )
    margin_weight = forms.FloatField(
        required=False,
        min_value=0,
        max_value=10,
        label="Margin weight",
        help_text="0 ranks by relevance only; 0.3 lifts the best-margin candidate by 30 %.",
    )
    price_band_low = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1000,
        label="Price band: from",
        help_text="Times the price of the item bought (0 = any lower price).",
    )
    price_band_high = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1000,
        label="Price band: to",
        help_text="Times the price of the item bought. Both ends blank: no price band.",
    )
    price_penalty = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Outside the band, keep",
        help_text="The share of its score an item outside the price band keeps (0.5 = half); it moves down, "
        "it is not removed.",
    )
    sequence_first = forms.BooleanField(
        required=False,
        label="Next module or episode first",
        help_text="After module 2, module 3 comes first (and module 4 is pushed down).",
    )

    class Meta:
        model = Store
        exclude = ["rules"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        own = self.instance.rules if self.instance.pk else {}
        rules = effective_rules(own, store_pk=self.instance.pk)
        band = rules["PRICE_BAND"]
        self.initial.update(
            {
                "own_rules": bool(own),
                "excluded_kinds": list(rules["EXCLUDED_KINDS"]),
                "excluded_items": "\n".join(self._external_ids(rules["EXCLUDED_ITEMS"])),
                "margin_weight": rules["MARGIN_WEIGHT"],
                "price_band_low": band[0] if band is not None else None,
                "price_band_high": band[1] if band is not None else None,
                "price_penalty": rules["PRICE_PENALTY"],
                "sequence_first": rules["SEQUENCE_FIRST"],
                **{_cap_field(kind): cap for kind, cap in rules["MAX_PER_KIND"].items()},
            }
        )

    @classmethod
    def rule_fields(cls) -> list[str]:
        """The names of the rule fields, in the order the admin shows them."""
        return [
            "own_rules",
            *[_cap_field(kind) for kind in KINDS],
            "excluded_kinds",
            "excluded_items",
            "margin_weight",
            ("price_band_low", "price_band_high"),
            "price_penalty",
            "sequence_first",
        ]

    def _external_ids(self, pks: list[int]) -> list[str]:
        if not pks or not self.instance.pk:
            return []
        return list(
            Item.objects.for_store(self.instance)
            .filter(pk__in=pks)
            .order_by("external_id")
            .values_list("external_id", flat=True)
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("own_rules"):
            self.instance.rules = {}
            return data
        for name in ("margin_weight", "price_penalty"):
            if data.get(name) is None and name not in self.errors:
                self.add_error(name, "Required when the store has its own rules.")
        low, high = data.get("price_band_low"), data.get("price_band_high")
        if (low is None) != (high is None):
            self.add_error("price_band_high", "Give both ends of the price band, or neither (no band).")
        elif low is not None and high is not None and not low < high:
            self.add_error("price_band_high", "The end of the price band must be above its start.")
        excluded_items = self._excluded_item_pks(data.get("excluded_items", ""))
        if self.errors:
            return data
        rules = {
            "MAX_PER_KIND": {k: data[_cap_field(k)] for k in KINDS if data.get(_cap_field(k)) is not None},
            "EXCLUDED_KINDS": list(data.get("excluded_kinds") or []),
            "PRICE_BAND": [low, high] if low is not None else None,
            "PRICE_PENALTY": data["price_penalty"],
            "SEQUENCE_FIRST": bool(data.get("sequence_first")),
            "MARGIN_WEIGHT": data["margin_weight"],
            "EXCLUDED_ITEMS": excluded_items,
        }
        problem = rules_problem(rules, STORE_RULE_KEYS)
        if problem is not None:
            raise forms.ValidationError(described("The rules", problem) + ".")
        self.instance.rules = rules
        return data

    def _excluded_item_pks(self, text: str) -> list[int]:
        wanted = list(dict.fromkeys(t for t in re.split(r"[\s,]+", text or "") if t))
        if not wanted:
            return []
        found: dict[str, int] = {}
        if self.instance.pk:
            found = dict(
                Item.objects.for_store(self.instance).filter(external_id__in=wanted).values_list("external_id", "pk")
            )
        missing = [t for t in wanted if t not in found]
        if missing:
            self.add_error("excluded_items", f"This store has no item with the id {', '.join(missing)}.")
        return sorted(found.values())


# --- follow-up paths: delays in words, kinds and categories as choices ----------------------------

#: the units a delay may be written in, with their spellings
DELAY_UNITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "week": (7 * 86400, ("w", "wk", "wks", "week", "weeks")),
    "day": (86400, ("d", "day", "days")),
    "hour": (3600, ("h", "hr", "hrs", "hour", "hours")),
    "minute": (60, ("m", "min", "mins", "minute", "minutes")),
    "second": (1, ("s", "sec", "secs", "second", "seconds")),
}
_UNIT_SECONDS = {spelling: seconds for seconds, spellings in DELAY_UNITS.values() for spelling in spellings}
_DELAY_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_DELAY_FILLER = re.compile(r"[\s,]+|\band\b")
#: the longest delay a step may have
MAX_DELAY = timedelta(days=365)
DELAY_FORMS = "“1 hour”, “24 hours”, “7 days”, “90 minutes” or “1 day 2 hours”"


def parse_delay(text: str) -> timedelta:
    """A delay written by a person ("1 hour", "24 hours", "7 days", "90 minutes", "1 day 2 hours",
    "1 week", "0 minutes"; also Django's "1:00:00" and "7 days, 0:00:00") as a ``timedelta``.

    Raises ``ValueError`` naming the accepted forms when the text is none of them.
    """
    cleaned = (text or "").strip().lower()
    if not cleaned:
        raise ValueError(f"Give a delay, for example {DELAY_FORMS}.")
    if ":" in cleaned:
        legacy = parse_duration(cleaned)
        if legacy is None or legacy < timedelta(0):
            raise ValueError(f"\u201c{text.strip()}\u201d is not a delay: write it as {DELAY_FORMS}.")
        return _bounded(legacy, text)
    parts = _DELAY_PART.findall(cleaned)
    if not parts or _DELAY_FILLER.sub("", _DELAY_PART.sub("", cleaned)):
        raise ValueError(
            f"\u201c{text.strip()}\u201d is not a delay: write a number and a unit (minutes, hours, days or weeks), "
            f"such as {DELAY_FORMS}."
        )
    seconds = Decimal(0)
    for number, unit in parts:
        if unit not in _UNIT_SECONDS:
            raise ValueError(
                f"\u201c{unit}\u201d is not a unit of time: use minutes, hours, days or weeks, such as {DELAY_FORMS}."
            )
        seconds += Decimal(number) * _UNIT_SECONDS[unit]
    if seconds != seconds.to_integral_value():
        raise ValueError(f"\u201c{text.strip()}\u201d is not a whole number of seconds: write it as {DELAY_FORMS}.")
    return _bounded(timedelta(seconds=int(seconds)), text)


def _bounded(delay: timedelta, text: str) -> timedelta:
    if delay > MAX_DELAY:
        raise ValueError(f"\u201c{text.strip()}\u201d is longer than a follow-up may wait (at most 365 days).")
    return delay


def format_delay(delay: timedelta) -> str:
    """A delay as a person writes it, read back by :func:`parse_delay`: "1 hour", "7 days",
    "1 day 2 hours", "1 hour 30 minutes"; "0 minutes" for none."""
    total = int(delay.total_seconds())
    if total <= 0:
        return "0 minutes"
    words = []
    for name, (seconds, _) in list(DELAY_UNITS.items())[1:]:  # days, hours, minutes, seconds (no weeks)
        count, total = divmod(total, seconds)
        if count:
            words.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(words)


class DelayField(forms.Field):
    """A step's delay as text ("24 hours"), saved as a ``timedelta``."""

    widget = forms.TextInput(attrs={"size": 16, "placeholder": "24 hours"})
    default_error_messages = {"invalid": "Not a delay."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", f"After the purchase, e.g. {DELAY_FORMS}.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return format_delay(value) if isinstance(value, timedelta) else value

    def to_python(self, value: Any) -> timedelta | None:
        if isinstance(value, timedelta):
            return value
        if value in self.empty_values:
            return None
        try:
            return parse_delay(str(value))
        except ValueError as err:
            raise forms.ValidationError(str(err), code="invalid") from err

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != initial
        except forms.ValidationError:
            return True


class StepForm(forms.ModelForm):
    """A path's step, its delay written in words."""

    delay = DelayField()

    class Meta:
        model = Step
        fields = "__all__"


#: how many of a store's genres and tags the path form offers (the most common first)
MAX_CATEGORY_CHOICES = 300


def store_categories(store: Store | int) -> list[str]:
    """The genres and tags of ``store``'s items, the most common first (at most
    ``MAX_CATEGORY_CHOICES``), one spelling per category (matching is case-insensitive)."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for genres, tags in Item.objects.for_store(store).values_list("genres", "tags").iterator(chunk_size=2000):
        for value in [*(genres if isinstance(genres, list) else []), *(tags if isinstance(tags, list) else [])]:
            text = str(value).strip()
            if text:
                counts[text.casefold()] += 1
                spelling.setdefault(text.casefold(), text)
    return [spelling[key] for key, _ in counts.most_common(MAX_CATEGORY_CHOICES)]


def _split_categories(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]+", text or "") if part.strip()]


class PathForm(forms.ModelForm):
    """A path: its trigger's item kinds and categories as choices, never raw JSON.

    The categories offered are the genres and tags of the path's store's items; others (for items
    to come) are typed in "Other categories", separated by commas. Both are saved as lists of
    strings, as the planner reads them.
    """

    item_kinds = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Item kinds",
        help_text="Only orders with an item of one of these kinds; none ticked = any kind.",
    )
    categories = forms.MultipleChoiceField(
        required=False,
        widget=FilteredSelectMultiple("categories", is_stacked=False),
        label="Categories",
        help_text="Only orders with an item in one of these genres or tags (case-insensitive); none = any. "
        "The choices are the genres and tags of the store's items (save the path once to see a new store's).",
    )
    new_categories = forms.CharField(
        required=False,
        label="Other categories",
        help_text="Genres or tags not in the list (for items to come), separated by commas.",
    )

    class Meta:
        model = Path
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current_kinds = [str(k) for k in (self.instance.item_kinds or [])]
        kinds = [(k, k.title()) for k in KINDS]
        known = {k.casefold() for k in KINDS}
        kinds += [(k, k) for k in current_kinds if k.casefold() not in known]  # kept, never dropped
        self.fields["item_kinds"].choices = kinds
        self.initial["item_kinds"] = [k.casefold() if k.casefold() in known else k for k in current_kinds]
        store = self._store()
        offered = store_categories(store) if store is not None else []
        folded = {c.casefold() for c in offered}
        current = [str(c) for c in (self.instance.categories or [])]
        offered += [c for c in current if c.casefold() not in folded]
        self.fields["categories"].choices = [(c, c) for c in offered]
        by_fold = {c.casefold(): c for c in offered}
        self.initial["categories"] = [by_fold[c.casefold()] for c in current]

    def _store(self) -> int | None:
        if self.instance.store_id:
            return self.instance.store_id
        wanted = self.data.get(self.add_prefix("store")) if self.is_bound else self.initial.get("store")
        wanted = getattr(wanted, "pk", wanted)
        return int(wanted) if str(wanted or "").isdigit() else None

    def clean_new_categories(self) -> list[str]:
        return _split_categories(self.cleaned_data.get("new_categories", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        merged: dict[str, str] = {}
        for category in [*data.get("categories", []), *data.get("new_categories", [])]:
            merged.setdefault(category.casefold(), category)
        data["categories"] = list(merged.values())
        data["item_kinds"] = list(data.get("item_kinds", []))
        return data
