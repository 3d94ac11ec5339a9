"""Shapes of the API's requests (query parameters, bodies) and responses."""

from __future__ import annotations

from rest_framework import serializers

from ..events import ItemKind
from ..models import Item


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
    rank = serializers.IntegerField(min_value=1)


class RecommendationListSerializer(serializers.Serializer):
    results = RecommendationSerializer(many=True)
    model_version = serializers.IntegerField(
        allow_null=True, help_text="The model version that produced them; null for the popular fallback."
    )


class RecommendationQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=4, help_text="How many (1-50).")
    placement = serializers.CharField(
        max_length=50, default="api", help_text="Where they will be shown; recorded with the impressions."
    )


class CatalogQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in ItemKind], required=False)
    available = serializers.BooleanField(required=False)
    q = serializers.CharField(required=False, max_length=200, help_text="Text the title contains.")


class ClickEventSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=500, help_text="The token of a recommendation link.")
    user_agent = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text="The shopper's browser, if known."
    )


class ClickRecordedSerializer(serializers.Serializer):
    click = serializers.IntegerField(help_text="The recorded click's id.")
    impression = serializers.IntegerField()
    url = serializers.CharField(help_text="Where the link leads (empty if the item's URL is unsafe).")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
