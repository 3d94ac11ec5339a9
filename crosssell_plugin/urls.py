"""crosssell's URLs. Include them in the project: ``path("crosssell/", include("crosssell_plugin.urls"))``."""

from django.urls import include, path

from . import views

app_name = "crosssell"

urlpatterns = [
    path("r/<str:token>/", views.click, name="click"),
    path("api/v1/", include("crosssell_plugin.api.urls")),
]
