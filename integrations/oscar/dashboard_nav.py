"""The Oscar dashboard's navigation entry of the cross-sell dashboard.

Importable from settings (no Django import at module level)::

    from integrations.oscar.dashboard_nav import NAVIGATION_ENTRY
    OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, NAVIGATION_ENTRY]
"""

from __future__ import annotations

from typing import Any


def staff_access(user: Any, url_name: str | None = None, url_args: Any = None, url_kwargs: Any = None) -> bool:
    """Who sees the cross-sell dashboard in Oscar: active staff (Oscar's own rule for its dashboard)."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


NAVIGATION_ENTRY: dict[str, Any] = {
    "label": "Cross-sell",
    "icon": "fas fa-chart-line",
    "url_name": "crosssell_dashboard:index",
    "access_fn": staff_access,
}
