from django.apps import AppConfig
from django.core import checks


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo store data"

    def ready(self) -> None:
        from .checks import check_demo_secret_key

        checks.register(check_demo_secret_key, checks.Tags.security, deploy=True)
