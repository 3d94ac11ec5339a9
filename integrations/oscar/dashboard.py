"""The store dashboard inside Oscar's dashboard (``/dashboard/crosssell/``), for staff.

The same page as the admin's store dashboard (:mod:`crosssell_plugin.admin.dashboard`: one context
builder, one template partial), for this Oscar project's store, in Oscar's dashboard layout.

Project setup: include the URLs *before* Oscar's own and add the navigation entry::

    # urls.py
    path("dashboard/crosssell/", include("integrations.oscar.dashboard_urls")),
    # settings.py
    from integrations.oscar.dashboard_nav import NAVIGATION_ENTRY
    OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, NAVIGATION_ENTRY]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from crosssell_plugin.admin.dashboard import csv_response, dashboard_context
from crosssell_plugin.models import Store
from integrations.base import get_adapter

from .dashboard_nav import staff_access


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to Oscar's dashboard login; signed-in customers who are not staff get a 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("dashboard:login"))
        if not staff_access(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def oscar_store() -> Store:
    """This Oscar project's Store (one Oscar project is one store)."""
    return get_adapter("oscar").store()


@staff_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """What cross-sell earned the shop, in Oscar's dashboard."""
    store = oscar_store()
    context = dashboard_context(
        store, request.GET, lambda table: reverse("crosssell_dashboard:csv", kwargs={"table": table})
    )
    return TemplateResponse(request, "crosssell/oscar/dashboard.html", context)


@staff_required
def csv_view(request: HttpRequest, table: str) -> HttpResponse:
    """One table of the dashboard as CSV."""
    return csv_response(oscar_store(), request.GET, table)
