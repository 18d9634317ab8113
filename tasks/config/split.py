"""The `split` section: which documents are held out for validation."""

from __future__ import annotations

from pydantic import Field

from lmkiln.tasks.config.base import Strict


class SplitConfig(Strict):
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    """Share of documents held out for validation, by a hash of the id: a
    document never changes side between nights."""
    salt: str = "lmkiln-v1"
    """Changing it reshuffles every document: only for a new corpus."""
