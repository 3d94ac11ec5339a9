"""Events a client reports: a click on a recommendation link, impressions of what it showed."""

from __future__ import annotations

import hashlib

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from ...absolute_urls import is_safe_target
from ...surfaces import serve
from ..serializers import (
    ClickEventSerializer,
    ClickRecordedSerializer,
    ImpressionEventSerializer,
    ImpressionsRecordedSerializer,
)
from .base import RETRY_AFTER, StoreAPIView, documented, invalid

BAD_LINK = "This link token is invalid, tampered with, expired or not from this store."


class ClickEvent(StoreAPIView):
    @extend_schema(
        operation_id="record_click",
        summary="Record a click on a recommendation link (like following /crosssell/r/<token>/)",
        request=ClickEventSerializer,
        parameters=[RETRY_AFTER],
        responses=documented(
            {
                201: ClickRecordedSerializer,
                400: invalid("A bad token, or a body that is no JSON or nests too deep.", {"token": [BAD_LINK]}),
            },
            body=True,
        ),
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        serializer = ClickEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        impression = serve.impression_of(serializer.validated_data["token"], self.store.pk)  # with its item
        if impression is None:
            raise exceptions.ValidationError({"token": [BAD_LINK]})
        agent = serializer.validated_data.get("user_agent", request.headers.get("User-Agent", ""))
        click = impression.clicks.create(
            user_agent_hash=hashlib.sha256(agent.encode("utf-8", "replace")).hexdigest() if agent else ""
        )
        url = impression.item.url if is_safe_target(impression.item.url) else ""
        return Response({"click": click.pk, "impression": impression.pk, "url": url}, status=status.HTTP_201_CREATED)


class ImpressionEvent(StoreAPIView):
    @extend_schema(
        operation_id="record_impressions",
        summary="Record that recommendations were shown (after fetching them with record_impressions=false)",
        request=ImpressionEventSerializer,
        parameters=[RETRY_AFTER],
        responses=documented(
            {
                201: ImpressionsRecordedSerializer,
                400: invalid(
                    "A bad token (by its index), none or too many, or a body that is no JSON or nests too deep.",
                    {"tokens": {"1": [BAD_LINK]}},
                    per_index=True,
                ),
            },
            body=True,
        ),
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        serializer = ImpressionEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():  # all or nothing
            found = [serve.impression_of(token, self.store.pk) for token in serializer.validated_data["tokens"]]
            bad = {str(n): [BAD_LINK] for n, impression in enumerate(found) if impression is None}
            if bad:
                raise exceptions.ValidationError({"tokens": bad})
        return Response({"impressions": [i.pk for i in found if i is not None]}, status=status.HTTP_201_CREATED)
