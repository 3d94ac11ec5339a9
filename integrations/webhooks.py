"""The webhook pipeline's receiving half: one base view for every platform, and its Celery task.

A platform's view is a subclass naming its platform (``platform_id = "stripe"``); everything
platform-specific is in its adapter (:class:`crosssell_plugin.platforms.PlatformAdapter`). The view
does three things, fast: verify, store the raw delivery once, enqueue. In order:

1. POST only (HEAD answers 200 for platforms that probe the URL); CSRF-exempt, login not required;
2. the body's declared and real size against ``CROSSSELL["WEBHOOK_MAX_BYTES"]`` (413);
3. the store from the URL (``adapter.webhook_store``): unknown or uninstalled -> 404, nothing stored
   (an adapter whose signature does not depend on the store may verify it there, raising
   WebhookValidationFailure, so a forged request is refused whatever store it names);
4. every ``validate_request`` in the class's MRO (mixins add checks without calling ``super()``,
   as in django-anymail); the base one calls ``adapter.verify_webhook`` -> 400 on failure;
5. the JSON body, refused when malformed or nested deeper than ``MAX_DEPTH`` (400);
6. ``adapter.describe_webhook`` -> topic and delivery id; a topic the adapter does not handle is
   logged and answered 200, nothing stored;
7. a :class:`~crosssell_plugin.models.WebhookDelivery` row, unique per platform and delivery id: a
   re-sent delivery finds the row and is answered 200 without a second one;
8. after commit, ``crosssell.process_delivery`` is enqueued; it runs
   :func:`crosssell_plugin.deliveries.process_delivery` (safe to run twice). When the broker
   cannot be reached (:func:`crosssell_plugin.queueing.enqueue`), the delivery is processed here,
   in the request, rather than waiting for someone to replay it; a transient failure then leaves
   it pending (``manage.py crosssell_replay --status pending``), and the platform is answered
   200 either way (the delivery is stored).

The two refusal statuses are class attributes a platform's view may change (its platform's
rules, not the others'): ``refused_status`` (400) for a request that fails validation and
``unknown_store_status`` (404) for an unknown or uninstalled store. Shopify's view answers 401
and 200 (Shopify's app review checks the 401; a shop that uninstalled is answered 200 so that
Shopify stops retrying).

URL: ``/crosssell/webhooks/<platform>/<store external id>/`` (``crosssell:webhook``), served by
the core's dispatcher, which finds this view through the registry.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, ClassVar

from celery import shared_task
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import View

from crosssell_plugin import jsonbody
from crosssell_plugin.conf import crosssell_settings
from crosssell_plugin.deliveries import is_transient, process_delivery
from crosssell_plugin.models import Store, WebhookDelivery
from crosssell_plugin.platforms import PlatformAdapter, RetryLater, WebhookValidationFailure, get_platform
from crosssell_plugin.queueing import RunInline, enqueue

logger = logging.getLogger(__name__)

#: retries of a delivery that failed transiently (the platform's API down, its order not recorded yet)
MAX_RETRIES = 8


def collect_all_methods(cls: type, name: str) -> list[Any]:
    """Every definition of ``name`` in ``cls``'s MRO, base classes first."""
    return [klass.__dict__[name] for klass in reversed(cls.__mro__) if name in klass.__dict__]


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class WebhookView(View):
    """Base webhook view. Subclasses set ``platform_id``; adapters do the platform's part."""

    platform_id: ClassVar[str] = ""
    #: the status of a request that fails validation (WebhookValidationFailure); nothing is stored
    refused_status: ClassVar[int] = 400
    #: the status of a request for an unknown or uninstalled store; nothing is stored
    unknown_store_status: ClassVar[int] = 404
    http_method_names = ["post", "head", "options"]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = collect_all_methods(type(self), "validate_request")
        self.adapter: PlatformAdapter = get_platform(self.platform_id)
        self.store: Store | None = None

    def validate_request(self, request: HttpRequest) -> None:
        """Raise WebhookValidationFailure unless the request is authentic. Every definition of
        this method along the MRO runs (see :func:`collect_all_methods`): do not call ``super()``."""
        assert self.store is not None  # noqa: S101 - set by post() before validators run
        self.adapter.verify_webhook(request, self.store)

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse()

    def post(self, request: HttpRequest, store_key: str | None = None) -> HttpResponse:
        name = self.adapter.platform_name or self.platform_id
        limit = crosssell_settings.WEBHOOK_MAX_BYTES
        try:
            jsonbody.check_size(int(request.META.get("CONTENT_LENGTH") or 0), limit)
        except (jsonbody.BodyTooLarge, ValueError) as err:
            return _plain(413, str(err))
        try:
            self.store = self.adapter.webhook_store(request, store_key)
        except WebhookValidationFailure as err:
            logger.warning("%s webhook refused: %s", name, err)
            return _plain(self.refused_status, str(err))
        if self.store is None:
            logger.warning("%s webhook for an unknown or uninstalled store %r: nothing stored", name, store_key)
            return _plain(self.unknown_store_status, f"No installed {name} store {store_key!r}.")
        try:
            body = request.body
            jsonbody.check_size(len(body), limit)
            for validator in self.validators:
                validator(self, request)
            payload = jsonbody.loads_object(body)
            info = self.adapter.describe_webhook(request, payload)
        except WebhookValidationFailure as err:
            logger.warning("%s webhook for store %s refused: %s", name, self.store.pk, err)
            return _plain(self.refused_status, str(err))
        except jsonbody.InvalidBody as err:
            logger.warning("%s webhook for store %s refused: %s", name, self.store.pk, err)
            return _plain(err.status, str(err))
        if info.topic not in self.adapter.webhook_topics:
            logger.info("%s webhook %s of topic %r ignored (not handled)", name, info.delivery_id, info.topic)
            return HttpResponse()
        self._store_once(request, body, info.topic, info.delivery_id)
        return HttpResponse()

    def _store_once(self, request: HttpRequest, body: bytes, topic: str, delivery_id: str) -> None:
        assert self.store is not None  # noqa: S101
        headers = {h: request.headers[h] for h in self.adapter.webhook_headers if h in request.headers}
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    store=self.store,
                    platform=self.platform_id,
                    topic=topic,
                    delivery_id=delivery_id,
                    body_sha256=hashlib.sha256(body).hexdigest(),
                    body=body.decode("utf-8"),
                    headers=headers,
                )
                transaction.on_commit(lambda: _enqueue(delivery.pk))
        except IntegrityError:
            logger.info("%s webhook %s received again: already stored", self.platform_id, delivery_id)


def _enqueue(pk: int) -> None:
    try:
        enqueue(process_delivery_task, pk, fallback=RunInline(process_inline))
    except Exception:
        # The row is stored: `manage.py crosssell_replay` (--status pending or failed) picks it up.
        logger.exception("Could not process webhook delivery %s; replay it with crosssell_replay", pk)


def process_inline(pk: int) -> str:
    """Process delivery ``pk`` in this process, as the task would once (the broker is down): a
    transient failure leaves it pending for ``crosssell_replay`` instead of retrying here."""
    try:
        return process_delivery(pk, retry_transient=True)
    except Exception as err:
        if not is_transient(err):
            raise
        logger.warning(
            "Webhook delivery %s left pending (%s: %s); replay it with crosssell_replay --status pending",
            pk,
            type(err).__name__,
            err,
        )
        return WebhookDelivery.Status.PENDING


@shared_task(name="crosssell.process_delivery", bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def process_delivery_task(self: Any, pk: int) -> str:
    """Process one stored webhook delivery (idempotent); transient failures retry with backoff."""
    try:
        return process_delivery(pk, retry_transient=self.request.retries < self.max_retries)
    except Exception as err:
        if isinstance(err, RetryLater) or is_transient(err):
            raise self.retry(exc=err, countdown=min(30 * 2**self.request.retries, 3600)) from err
        raise
