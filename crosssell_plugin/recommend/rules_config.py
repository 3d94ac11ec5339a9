"""The business rules of a store: the defaults, the site's settings, then the store's own.

:func:`rules_for` resolves them for a recommendation call::

    defaults (conf.RULES_DEFAULTS)
      < CROSSSELL["RULES"] and CROSSSELL["MARGIN_WEIGHT"]
      < Store.rules (edited in the Store's admin page; {} = the site's rules)

key by key (a key given replaces the one below it whole: a store's ``MAX_PER_KIND`` of ``{}``
caps nothing). It reads no database: the store's rules come with the Store row the caller
already has, and the :class:`~crosssell_plugin.engine.rules.Rules` built from them are kept
per process, keyed by what they were built from (a change in the admin or the settings is a
new key). Invalid rules (the system check reports bad settings; ``Store.save`` refuses bad
store rules, but a raw ``UPDATE`` does not) are logged and left out, never breaking a page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..conf import RULES_DEFAULTS, STORE_RULE_KEYS, crosssell_settings, described, rules_problem
from ..engine.rules import Rules

if TYPE_CHECKING:
    from ..models import Store

logger = logging.getLogger("crosssell_plugin.rules_config")  # its name before it moved here

#: (site rules, margin weight, store rules) as JSON -> the Rules built from them
_built: dict[tuple[str, str, str], Rules] = {}
_MAX_BUILT = 512


def rules_for(store: Store) -> Rules:
    """The rules ``store``'s recommendations follow (no query; see the module's docstring)."""
    site, margin, own = crosssell_settings.RULES, crosssell_settings.MARGIN_WEIGHT, store.rules or {}
    key = (_key(site), _key(margin), _key(own))
    rules = _built.get(key)
    if rules is None:
        rules = _build(effective_rules(own, site=site, margin_weight=margin, store_pk=store.pk))
        if len(_built) >= _MAX_BUILT:
            _built.clear()
        _built[key] = rules
    return rules


def effective_rules(
    own: Mapping[str, Any] | None = None,
    *,
    site: Any = None,
    margin_weight: Any = None,
    store_pk: int | None = None,
) -> dict[str, Any]:
    """The rules as a dict of every key of ``STORE_RULE_KEYS``: the defaults, updated with the
    site's (``CROSSSELL["RULES"]``, ``CROSSSELL["MARGIN_WEIGHT"]``; read now when not given),
    then with ``own`` (a store's)."""
    site = crosssell_settings.RULES if site is None else site
    margin_weight = crosssell_settings.MARGIN_WEIGHT if margin_weight is None else margin_weight
    rules: dict[str, Any] = {**RULES_DEFAULTS, "MARGIN_WEIGHT": 0.0, "EXCLUDED_ITEMS": []}
    if (problem := rules_problem(site)) is None:
        rules.update(site)
    else:
        logger.error("The site's rules are ignored: %s", described('CROSSSELL["RULES"]', problem))
    if (problem := rules_problem({"MARGIN_WEIGHT": margin_weight}, ("MARGIN_WEIGHT",))) is None:
        rules["MARGIN_WEIGHT"] = margin_weight
    else:
        logger.error('CROSSSELL["MARGIN_WEIGHT"] is ignored: it must be a number from 0 to 10')
    if own:
        if (problem := rules_problem(own, STORE_RULE_KEYS)) is None:
            rules.update(own)
        else:
            logger.error("Store %s: its own rules are ignored: %s", store_pk, described("rules", problem))
    return rules


def _build(rules: Mapping[str, Any]) -> Rules:
    band = rules["PRICE_BAND"]
    return Rules(
        margin_weight=float(rules["MARGIN_WEIGHT"]),
        price_band=(float(band[0]), float(band[1])) if band is not None else None,
        price_penalty=float(rules["PRICE_PENALTY"]),
        max_per_kind=MappingProxyType({str(kind): int(cap) for kind, cap in rules["MAX_PER_KIND"].items()}),
        sequence_first=bool(rules["SEQUENCE_FIRST"]),
        excluded_kinds=frozenset(rules["EXCLUDED_KINDS"]),
        excluded_items=frozenset(int(pk) for pk in rules["EXCLUDED_ITEMS"]),
    )


def _key(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys of mixed types: invalid rules, built (and logged) once
        return repr(value)
