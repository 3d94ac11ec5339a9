"""Settings of a dispatcher process started by a test: the test settings plus the CROSSSELL keys
given as JSON in ``CROSSSELL_TEST_OVERRIDES``."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import CROSSSELL

CROSSSELL = {**CROSSSELL, **json.loads(os.environ.get("CROSSSELL_TEST_OVERRIDES", "{}"))}
