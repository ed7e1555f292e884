"""Build the stores Settings describe."""

from __future__ import annotations

from dataclasses import dataclass

from imagehost.config import Settings
from imagehost.storage.base import Store
from imagehost.storage.local import LocalStore


@dataclass(frozen=True)
class Stores:
    incoming: Store
    active: Store

    def named(self) -> dict[str, Store]:
        return {"incoming": self.incoming, "active": self.active}


def build_stores(settings: Settings) -> Stores:
    return Stores(
        incoming=LocalStore("incoming", settings.incoming_folder),
        active=LocalStore("active", settings.active_folder),
    )
