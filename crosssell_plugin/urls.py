"""crosssell's URLs. Include them in the project: ``path("crosssell/", include("crosssell_plugin.urls"))``."""

from django.urls import path

from . import views

app_name = "crosssell"

urlpatterns = [
    path("r/<str:token>/", views.click, name="click"),
]
