"""Save and load a fitted model as one self-checking blob (numpy .npz + JSON metadata).

The blob starts with a magic line and the SHA-256 of the rest, so a truncated or altered
artifact is rejected with :class:`CorruptArtifact` instead of serving garbage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from .model import HybridModel, Params
from .similarity import dense_top_k_rows

MAGIC = b"crosssell-model/1\n"
_SPARSE = (
    "basket",
    "copurchase",
    "copurchase_counts",
    "ease",
    "ease_recent",
    "sequence",
    "sequence_counts",
    "content",
)
_DENSE = ("popularity", "trending", "item_counts")


class CorruptArtifact(ValueError):
    """The bytes are not a complete, unaltered crosssell model."""


def dumps(model: HybridModel, meta: dict[str, Any] | None = None) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for name in _SPARSE:
        m = getattr(model, name)
        if m is not None:
            m = sp.csr_matrix(m)
            arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"] = m.data, m.indices, m.indptr
            arrays[f"{name}.shape"] = np.array(m.shape)
    for name in _DENSE:
        value = getattr(model, name)
        if value is not None:
            arrays[name] = value
    header = {
        "params": dataclasses.asdict(model.params),
        "n_items": model.n_items,
        "item_tokens": [sorted(t) for t in model.item_tokens] if model.item_tokens is not None else None,
        "meta": meta or {},
    }
    arrays["header.json"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **cast("dict[str, Any]", arrays))  # names are not savez's options
    body = buffer.getvalue()
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def loads(blob: bytes) -> tuple[HybridModel, dict[str, Any]]:
    if not blob.startswith(MAGIC):
        raise CorruptArtifact("not a crosssell model (bad header)")
    rest = blob[len(MAGIC) :]
    digest, _, body = rest.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise CorruptArtifact("checksum mismatch: the artifact is truncated or altered")
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(bytes(arrays.pop("header.json")).decode())
    except (ValueError, OSError, KeyError) as err:
        raise CorruptArtifact(f"unreadable artifact: {err}") from err
    try:
        model = HybridModel(_params(header["params"]))
    except (TypeError, ValueError, AttributeError) as err:  # written by an engine with other parameters
        raise CorruptArtifact(f"artifact parameters do not match this engine: {err}") from err
    model.n_items = header["n_items"]
    tokens = header.get("item_tokens")
    model.item_tokens = [frozenset(t) for t in tokens] if tokens is not None else None
    for name in _SPARSE:
        if f"{name}.data" in arrays:
            shape = tuple(int(x) for x in arrays[f"{name}.shape"])
            matrix = sp.csr_matrix(
                (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]), shape=shape
            )
            setattr(model, name, matrix)
    for name in _DENSE:
        if name in arrays:
            setattr(model, name, arrays[name])
    if "ease" in arrays and arrays["ease"].ndim == 2:  # an earlier engine kept EASE dense
        model.ease = dense_top_k_rows(arrays["ease"], model.params.ease_k, model.params.ease_negative_k)
    return model, header["meta"]


def _params(raw: dict[str, Any]) -> Params:
    """Params from an artifact's header, also from an earlier engine's: one signal weight per
    task (now a trigger and a history feature each) and one history half-life in lines."""
    known = {f.name for f in dataclasses.fields(Params)}
    values = {k: v for k, v in raw.items() if k in known}
    weights = values.get("weights") or {}
    trigger_weight = float(raw.get("trigger_weight", 1.0))
    converted = {}
    for task, blend in weights.items():
        if any(":" in name for name in blend) or not blend:
            converted[task] = dict(blend)
            continue
        new: dict[str, float] = {}
        for name, w in blend.items():
            if name in ("popularity", "trending"):
                new[name] = float(w)
            else:
                new[f"{name}:history"] = float(w)
                new[f"{name}:trigger"] = float(w) * trigger_weight
        converted[task] = new
    if weights:
        values["weights"] = converted
    if "decay" in values:
        values["decay"] = {task: (str(mode), float(h)) for task, (mode, h) in values["decay"].items()}
    elif "history_half_life" in raw:
        values["decay"] = {task: ("orders", float(raw["history_half_life"])) for task in converted or weights}
    return Params(**values)
