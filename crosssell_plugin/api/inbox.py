"""The in-app inbox of a customer: the follow-ups sent on the in_app channel, newest first.

``GET  customers/<email>/messages/``                 the customer's messages (``?unread=true``: only unread)
``POST customers/<email>/messages/<id>/read/``        mark one read (idempotent)

The customer is named by email, as in ``recommendations/customer/<email>/``; every query is
scoped to the caller's store. A visitor calling with their session sees only their own inbox:
the customer whose email the signed-in account has verified, or whose every order that account
placed (:func:`crosssell_plugin.shoppers.may_see_customer`).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import Customer, InAppMessage
from ..shoppers import may_see_customer
from .authentication import is_row_id
from .views import NOT_FOUND, RETRY_AFTER, StoreAPIView, documented, first_match

#: the most messages one answer holds
LIMIT = 50


class InboxRecommendationSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    external_id = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="The tracked link (a click is recorded, then redirected).")
    image_url = serializers.CharField(allow_blank=True)
    price = serializers.CharField()
    currency = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


class InAppMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField(allow_blank=True)
    recommendations = InboxRecommendationSerializer(many=True, source="payload.recommendations", default=list)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class InboxQuerySerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, help_text="Only the unread messages.")


class InboxSerializer(serializers.Serializer):
    results = InAppMessageSerializer(many=True)
    unread = serializers.IntegerField(help_text="Unread messages in all.")


def _customer(request: Request, store: Any, email: str) -> Customer:
    found = first_match(Customer.objects.for_store(store), email=email.strip().lower())
    if found is None or not may_see_customer(request, found):
        raise exceptions.NotFound("No customer with this email in this store.")
    return found


class CustomerMessages(StoreAPIView):
    @extend_schema(
        operation_id="customer_messages",
        summary="A customer's in-app follow-ups, newest first",
        parameters=[InboxQuerySerializer, RETRY_AFTER],
        responses=documented({200: InboxSerializer, 404: NOT_FOUND}),
        tags=["inbox"],
    )
    def get(self, request: Request, email: str) -> Response:
        query = InboxQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        customer = _customer(request, self.store, email)
        messages = InAppMessage.objects.for_store(self.store).filter(customer=customer)
        unread = messages.filter(read_at__isnull=True)
        shown = unread if query.validated_data.get("unread") else messages
        data = {"results": list(shown.order_by("-created_at", "-pk")[:LIMIT]), "unread": unread.count()}
        return Response(InboxSerializer(data).data)


class MarkMessageRead(StoreAPIView):
    @extend_schema(
        operation_id="customer_message_read",
        summary="Mark an in-app follow-up read",
        request=None,
        # the route takes any text, so that a message_id that is no number gets this API's JSON 404
        parameters=[OpenApiParameter("message_id", int, OpenApiParameter.PATH), RETRY_AFTER],
        responses=documented({200: InAppMessageSerializer, 404: NOT_FOUND}),
        tags=["inbox"],
    )
    def post(self, request: Request, email: str, message_id: str) -> Response:
        customer = _customer(request, self.store, email)
        messages = InAppMessage.objects.for_store(self.store).filter(customer=customer)
        message = messages.filter(pk=int(message_id)).first() if is_row_id(message_id) else None
        if message is None:
            raise exceptions.NotFound("No such message for this customer.")
        if message.read_at is None:
            message.read_at = timezone.now()
            message.save(update_fields=["read_at"])
        return Response(InAppMessageSerializer(message).data)
