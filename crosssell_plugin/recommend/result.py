"""What a recommendation call returns: the item, its score and its reasons."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.explain import Reason
from ..models import Item


@dataclass(frozen=True)
class Recommendation:
    item: Item
    score: float
    #: why, as data (checkable against the training data and the pair counts)
    reasons: list[Reason]
    #: the same reasons in plain English, one text per reason
    reason_texts: list[str]
    #: post_purchase | next_order | item_to_item
    task: str
    #: where it is shown (thank_you, email, item_page...), for impressions
    placement: str = ""
    #: the model version that produced it; None for the popular fallback (cold start)
    model_version: int | None = None
    #: the ModelVersion row of ``model_version``
    model_version_pk: int | None = None
