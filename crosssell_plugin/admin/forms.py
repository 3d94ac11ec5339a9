"""The Store admin form: a store's own business rules as real fields (never raw JSON).

Unticked "Own rules", the store follows the site's rules (``CROSSSELL["RULES"]`` and
``CROSSSELL["MARGIN_WEIGHT"]``), which the fields show; ticked, the fields are saved as
``Store.rules`` (every key, so a later change of the settings no longer reaches this store).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from ..conf import STORE_RULE_KEYS, described, rules_problem
from ..events import ItemKind
from ..models import Item, Store
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
