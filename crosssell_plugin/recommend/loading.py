"""The per-process model cache: each store's active model, loaded lazily and verified, and the
stores found by platform and external id (see :mod:`crosssell_plugin.recommend`, step 1)."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..conf import crosssell_settings
from ..engine import artifact
from ..engine.model import HybridModel
from ..engine.rules import CatalogArrays
from ..models import Item, ModelVersion, Store
from .training import rebase_pair_counts

logger = logging.getLogger(__name__)


# --- the per-process model cache ----------------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    version_pk: int
    version: int
    sha256: str
    model: HybridModel
    #: Item pk of each model index (kept in the artifact's metadata)
    item_ids: list[int]
    index: dict[int, int]
    trained_until: datetime | None


@dataclass
class _Entry:
    loaded: LoadedModel | None
    checked_at: float
    #: facts of the model's items (kind, price, margin, parent...), refreshed with each check
    catalog: CatalogArrays | None = None
    #: the store's items by number of orders, computed when first needed after each check
    popular: list[_PopularItem] | None = None


@dataclass(frozen=True)
class _PopularItem:
    pk: int
    kind: str
    orders: int
    buyers: int


_cache: dict[int, _Entry] = {}
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def clear_cache() -> None:
    """Forget every loaded model and every store found by :func:`store_of` (the next call checks
    and loads again)."""
    with _locks_guard:
        _cache.clear()
        _stores.clear()


#: (platform, external id) -> (the Store, when it was read), see :func:`store_of`
_stores: dict[tuple[str, str], tuple[Store, float]] = {}


def store_of(platform: str, external_id: str) -> Store | None:
    """The Store of a platform's shop, read from the database at most every
    ``MODEL_CHECK_SECONDS`` per process (the same cadence as the model check); None while there
    is none (not remembered, so a store created a moment later is found at once)."""
    memo = _stores.get((platform, external_id))
    if memo is not None and time.monotonic() - memo[1] < crosssell_settings.MODEL_CHECK_SECONDS:
        return memo[0]
    store = Store.objects.filter(platform=platform, external_id=external_id).first()
    if store is None:
        _stores.pop((platform, external_id), None)
    else:
        _stores[(platform, external_id)] = (store, time.monotonic())
    return store


def get_model(store: Store) -> LoadedModel | None:
    """The store's active model, loaded and verified; None when there is none (cold start)."""
    return _entry(store).loaded


def _lock_for(store_pk: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(store_pk, threading.Lock())


def _entry(store: Store) -> _Entry:
    interval = crosssell_settings.MODEL_CHECK_SECONDS
    entry = _cache.get(store.pk)
    if entry is not None and time.monotonic() - entry.checked_at < interval:
        return entry
    with _lock_for(store.pk):
        entry = _cache.get(store.pk)
        if entry is not None and time.monotonic() - entry.checked_at < interval:
            return entry  # another thread checked while this one waited
        fresh = _check(store, entry.loaded if entry else None)
        if entry is not None and fresh.loaded is not None and fresh.loaded is entry.loaded:
            fresh.popular = entry.popular  # the same model: keep its popularity ranking
        _cache[store.pk] = entry = fresh
        return entry


def _check(store: Store, loaded: LoadedModel | None) -> _Entry:
    for _attempt in range(5):  # a rollback makes the previous version active: try it next
        row = (
            ModelVersion.objects.for_store(store)
            .filter(status=ModelVersion.Status.ACTIVE)
            .values("pk", "version", "sha256", "artifact_path")
            .first()
        )
        if row is None or (loaded and (loaded.version_pk, loaded.sha256) == (row["pk"], row["sha256"])):
            break  # nothing active (keep what is loaded, if anything) or already loaded
        try:
            loaded = _load(store, row)
            break
        except (artifact.CorruptArtifact, FileNotFoundError) as err:
            logger.error("Store %s: model version %s is corrupt and was rejected: %s", store.pk, row["version"], err)
            _reject(store, row["pk"], f"{type(err).__name__}: {err}")
        except Exception:  # storage unreachable, say: keep serving, try again at the next check
            logger.exception("Store %s: model version %s could not be loaded", store.pk, row["version"])
            break
    return _Entry(loaded, time.monotonic(), _catalog(store, loaded) if loaded else None)


def _load(store: Store, row: dict[str, Any]) -> LoadedModel:
    started = time.monotonic()
    with default_storage.open(row["artifact_path"], "rb") as fh:
        blob = fh.read()
    if hashlib.sha256(blob).hexdigest() != row["sha256"]:
        raise artifact.CorruptArtifact("the stored bytes do not match the SHA-256 recorded at training")
    model, meta = artifact.loads(blob)
    item_ids = meta.get("item_ids")
    if meta.get("store") != store.pk or not isinstance(item_ids, list) or len(item_ids) != model.n_items:
        raise artifact.CorruptArtifact("the artifact's metadata does not describe this store's model")
    until = meta.get("trained_until")
    loaded = LoadedModel(
        version_pk=row["pk"],
        version=row["version"],
        sha256=row["sha256"],
        model=model,
        item_ids=[int(pk) for pk in item_ids],
        index={int(pk): i for i, pk in enumerate(item_ids)},
        trained_until=parse_datetime(until) if until else None,
    )
    logger.info(
        "Store %s: loaded model version %s (%d items, %d bytes) in %.3fs",
        store.pk,
        row["version"],
        model.n_items,
        len(blob),
        time.monotonic() - started,
    )
    return loaded


def _reject(store: Store, version_pk: int, error: str) -> None:
    """Mark a corrupt active version rejected and re-activate the newest earlier one (rollback)."""
    with transaction.atomic():
        Store.objects.select_for_update(no_key=True).filter(pk=store.pk).first()
        bad = ModelVersion.objects.select_for_update().filter(pk=version_pk, status=ModelVersion.Status.ACTIVE).first()
        if bad is None:
            return  # another process got there first
        bad.status, bad.error = ModelVersion.Status.REJECTED, error
        bad.save(update_fields=["status", "error"])
        previous = (
            ModelVersion.objects.for_store(store)
            .filter(status=ModelVersion.Status.RETIRED, version__lt=bad.version)
            .exclude(sha256="")
            .order_by("-version")
            .first()
        )
        if previous is not None:
            previous.status, previous.activated_at = ModelVersion.Status.ACTIVE, timezone.now()
            previous.save(update_fields=["status", "activated_at"])
            rebase_pair_counts(store, previous.trained_until)
            logger.warning("Store %s: rolled back to model version %s", store.pk, previous.version)


def _catalog(store: Store, loaded: LoadedModel) -> CatalogArrays:
    """The current facts of the model's items (an item deleted since is unavailable)."""
    n, index = len(loaded.item_ids), loaded.index
    kinds = [""] * n
    prices = np.full(n, math.nan)
    margins = np.full(n, math.nan)
    available = np.zeros(n, bool)
    parents = np.full(n, -1, np.int64)
    positions = np.full(n, -1, np.int64)
    rows = Item.objects.for_store(store).values_list(
        "pk", "kind", "price", "unit_cost", "margin_rate", "available", "parent_id", "position"
    )
    for pk, kind, price, cost, rate, is_available, parent, position in rows.iterator(chunk_size=5000):
        i = index.get(pk)
        if i is None:
            continue
        kinds[i], prices[i], available[i] = kind, float(price), is_available
        margin = price - cost if cost is not None else price * rate if rate is not None else None
        if margin is not None:
            margins[i] = float(margin)
        parents[i] = index.get(parent, -1) if parent is not None else -1
        positions[i] = -1 if position is None else position
    return CatalogArrays(kinds, prices, margins, available, parents, positions)
