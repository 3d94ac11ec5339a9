"""The layout's promises that no import contract can see: what a Celery worker imports, and the task
names beat schedules and other processes rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys
import django
django.setup()
from celery import current_app
import crosssell_plugin.tasks  # what Celery's autodiscovery imports in a worker
# and what the tasks import when they run (a block rendered ahead, a dispatch, a training)
import crosssell_plugin.followups.dispatch, crosssell_plugin.recommend.training, crosssell_plugin.surfaces.blocks
import crosssell_plugin.ingest.pipeline, crosssell_plugin.tracking.impressions
print("TAGS" if any(m.startswith("crosssell_plugin.templatetags") for m in sys.modules) else "NO-TAGS")
print(",".join(sorted(n for n in current_app.tasks if n.startswith("crosssell.") and ".oscar." not in n)))
"""


def test_a_worker_imports_no_template_tag_library_and_registers_the_task_names() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}"}
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", WORKER], check=True, capture_output=True, text=True, cwd=ROOT, env=env
    ).stdout.split()
    assert out[0] == "NO-TAGS"
    names = set(out[1].split(","))
    assert {
        "crosssell.record_purchase",
        "crosssell.record_consumption",
        "crosssell.record_refund",
        "crosssell.update_pair_counts",
        "crosssell.compute_ahead",
        "crosssell.log_impressions",
        "crosssell.train_store",
        "crosssell.train_all_stores",
        "crosssell.dispatch_followups",
    } <= names
