"""URLs of the cross-sell dashboard in Oscar's dashboard: include them at ``dashboard/crosssell/``
before Oscar's URLs (see :mod:`integrations.oscar.dashboard`)."""

from django.urls import path

from . import dashboard

app_name = "crosssell_dashboard"

urlpatterns = [
    path("", dashboard.dashboard_view, name="index"),
    path("csv/<slug:table>/", dashboard.csv_view, name="csv"),
]
