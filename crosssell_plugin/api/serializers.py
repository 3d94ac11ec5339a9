"""Shapes of the API's requests (query parameters, bodies) and responses."""

from __future__ import annotations

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers

from ..events import ItemKind
from ..models import Item

#: DRF refuses NUL in every CharField (PostgreSQL cannot store it); as a pattern, the schema says so too
NO_NUL = RegexValidator(r"^[^\x00]*$", message=ProhibitNullCharactersValidator.message)


class TextField(serializers.CharField):
    """Text of a query or body, taken as sent: not trimmed, so the schema's length limits are exact,
    and without NUL, which the schema states with :data:`NO_NUL`'s pattern."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [NO_NUL if isinstance(v, ProhibitNullCharactersValidator) else v for v in self.validators]


class ItemSerializer(serializers.ModelSerializer):
    genres = serializers.ListField(child=serializers.CharField(), read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    people = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        read_only=True,
        help_text='Role -> names, e.g. {"director": ["Agnès Varda"]}.',
    )

    class Meta:
        model = Item
        fields = [
            "external_id",
            "kind",
            "title",
            "description",
            "url",
            "image_url",
            "price",
            "currency",
            "genres",
            "people",
            "tags",
            "runtime_minutes",
            "level",
            "language",
            "available",
        ]
        read_only_fields = fields


class RecommendationSerializer(serializers.Serializer):
    item = ItemSerializer()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why, in plain English.")
    link = serializers.CharField(
        help_text="The signed click link of this impression (records a click, then redirects to the item)."
    )
    token = serializers.CharField(
        help_text="The impression's token (the one in `link`): post it to `events/impressions/` when the "
        "result is shown (with `record_impressions=false`) or to `events/click/` when it is clicked."
    )
    rank = serializers.IntegerField(min_value=1)


class RecommendationListSerializer(serializers.Serializer):
    results = RecommendationSerializer(many=True)
    model_version = serializers.IntegerField(
        allow_null=True, help_text="The model version that produced them; null for the popular fallback."
    )


class RecommendationQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=4, help_text="How many (1-50).")
    placement = TextField(
        max_length=50, default="api", help_text="Where they will be shown; recorded with the impressions."
    )
    variant = TextField(
        max_length=50,
        default="",
        allow_blank=True,
        help_text="Which variant the caller shows (its own A/B test arm); recorded with the impressions and clicks.",
    )
    record_impressions = serializers.BooleanField(
        default=True,
        help_text="true: one impression per result is recorded now. false: none until the client posts the "
        "tokens of the results it shows to `events/impressions/` (or one is clicked).",
    )


class CatalogQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind], required=False)
    available = serializers.BooleanField(required=False)
    q = TextField(required=False, max_length=200, help_text="Text the title contains.")
    # read by CatalogPagination; declared here so that anything but a positive integer is a 400
    page = serializers.IntegerField(min_value=1, required=False, help_text="Which page (from 1).")
    page_size = serializers.IntegerField(
        min_value=1, required=False, help_text="Items per page: 50 unless given, at most 200 (more gives 200)."
    )


class ClickEventSerializer(serializers.Serializer):
    token = TextField(max_length=500, help_text="The token of a recommendation link.")
    user_agent = TextField(
        required=False, allow_blank=True, max_length=1000, help_text="The shopper's browser, if known."
    )


class ImpressionEventSerializer(serializers.Serializer):
    tokens = serializers.ListField(
        child=TextField(max_length=500),
        min_length=1,
        max_length=50,
        help_text="The tokens of the results shown (1-50). All are recorded, or none if any is bad.",
    )


class ImpressionsRecordedSerializer(serializers.Serializer):
    impressions = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The recorded impressions' ids, in the order of the tokens (a token sent again gives the "
        "same id: nothing is recorded twice).",
    )


class ClickRecordedSerializer(serializers.Serializer):
    click = serializers.IntegerField(help_text="The recorded click's id.")
    impression = serializers.IntegerField()
    url = serializers.CharField(help_text="Where the link leads (empty if the item's URL is unsafe).")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
