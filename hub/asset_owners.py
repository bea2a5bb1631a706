"""Which device each asset belongs to, checked for every message the ingest takes. Pure.

The broker ACL and the topic check prove *which device* speaks; this proves it speaks only
for *its own* assets. An asset belongs to the first device whose birth declared it (or to
the device an operator gave it to in the ``assets`` table), and to no other: a reading,
event or birth from another device that names it is refused with ``foreign_asset``, and
nothing of that message is stored. A device's own id is an asset of that device too (the
edge reports the Pi itself under it), so no device can speak for another device itself.

A device may own at most ``max_per_device`` assets (births that would take it past are
refused with ``too_many_assets``), so no device can fill the registry. Assets a newer birth
no longer lists stay the device's until an operator retires them.

The maps live in memory (filled from the ``assets`` table at start), because the check
runs per reading on the ingest's hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, Protocol

from trygg import contract as c

# A pole carries a handful of assets; the bound leaves room for larger controllers.
DEFAULT_MAX_PER_DEVICE: Final = 64


class _Named(Protocol):
    @property
    def asset(self) -> str: ...


class AssetOwners:
    """``is_known`` tells whether a device id is registered (the ingest's bookkeeping)."""

    __slots__ = ("_by_device", "is_known", "max_per_device", "owner")

    def __init__(
        self,
        *,
        is_known: Callable[[str], bool],
        max_per_device: int,
    ) -> None:
        self.is_known = is_known
        self.max_per_device = max_per_device
        self.owner: dict[str, str] = {}
        self._by_device: dict[str, set[str]] = {}

    def load(self, owned: Iterable[tuple[str, str]]) -> None:
        """(asset, device) pairs as the ``assets`` table has them."""
        for asset, device in owned:
            self._own(asset, device)

    def _own(self, asset: str, device: str) -> None:
        before = self.owner.get(asset)
        if before is not None and before != device:
            self._by_device[before].discard(asset)
        self.owner[asset] = device
        self._by_device.setdefault(device, set()).add(asset)

    def owner_of(self, asset: str) -> str | None:
        """The device ``asset`` belongs to, or None if nobody declared it."""
        owner = self.owner.get(asset)
        if owner is None and self.is_known(asset):
            return asset
        return owner

    def count(self, device: str) -> int:
        return len(self._by_device.get(device, ()))

    def check_items(self, device: str, items: Iterable[_Named]) -> None:
        """Raise ContractError('foreign_asset') if any reading or event of ``device`` names
        another device's asset. Readings come in runs of one asset: a run is checked once."""
        owner, is_known = self.owner, self.is_known
        last = None
        for item in items:
            asset = item.asset
            if asset == last:
                continue
            last = asset
            holder = owner.get(asset)
            if (holder is not None and holder != device) or (
                holder is None and asset != device and is_known(asset)
            ):
                raise c.ContractError("foreign_asset", f"asset {asset!r} belongs to another device")

    def claim(self, birth: c.Birth) -> None:
        """Give ``birth``'s assets to its device, or raise ContractError with reason
        ``foreign_asset`` or ``too_many_assets`` and change nothing."""
        device = birth.device
        ids = {a.id for a in birth.assets}
        for asset in sorted(ids):
            holder = self.owner_of(asset)
            if holder is not None and holder != device:
                raise c.ContractError("foreign_asset", f"asset {asset!r} belongs to another device")
        total = len(self._by_device.get(device, set()) | ids)
        if total > self.max_per_device:
            raise c.ContractError(
                "too_many_assets",
                f"{total} assets for one device > {self.max_per_device} allowed",
            )
        for asset in ids:
            self._own(asset, device)
