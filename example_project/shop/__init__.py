# The project owns the Celery app; importing it here makes @shared_task use it.
from .celery import app as celery_app

__all__ = ["celery_app"]
