from django.apps import AppConfig
from django.core import checks


class OscarIntegrationConfig(AppConfig):
    name = "integrations.oscar"
    label = "crosssell_oscar"
    verbose_name = "Cross-sell for django-oscar"
    crosssell_adapter = "integrations.oscar.adapter.OscarAdapter"

    def ready(self) -> None:
        try:
            import oscar  # noqa: F401
        except ImportError:
            from crosssell_plugin.exceptions import ImproperlyInstalled

            raise ImproperlyInstalled("django-oscar", "oscar") from None
        from . import receivers
        from .checks import check_oscar_options

        receivers.connect()
        checks.register(check_oscar_options, checks.Tags.compatibility)
