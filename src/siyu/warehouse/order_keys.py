"""The key of an order: which system numbered it and, where numbers repeat from shop to shop, which shop.

`order_key = "<namespace>|<shop>|<order id>"`. The free-text `--source` label is not part of it for the
platforms, so the same export imported under two labels is one set of orders (docs/import-formats.md):

- taobao, jd, douyin, youzan: the platform; no shop. These platforms number orders platform-wide (one
  trade system for every shop), and the shop columns (店铺名称, 归属店铺) are optional in the exports: a key
  that used them would make two exports of one order, one with the column ticked and one without, two
  orders.
- pos: the platform and the store (门店), because till numbers restart in every store.
- generic files and API pushes carry no platform: the label names the system that numbered them
  (`source:<label>`). A generic file's mapped `store` is part of the key (tills exported generically
  number per store); the API's is not (a status update may omit the store).

Records stay keyed by their source label (`<source>|<record id>`); an order imported under a second label
keeps the record of its first import, and the second label's record resolves into the same customer
through the buyer id both carry.

`order_key_prefix` is the one definition: the importer (siyu.ingest.prepare) and the upgrade of
warehouses keyed before (siyu.warehouse.upgrades) both call it once per distinct (format, label, store).
"""

from __future__ import annotations

PLATFORM_WIDE = frozenset({"taobao", "jd", "douyin", "youzan"})  # order numbers unique on the platform
PER_STORE = frozenset({"pos"})  # order numbers unique within a store
# formats whose orders are numbered by the system the label names, with the mapped store
LABELLED_WITH_STORE = frozenset({"generic"})


def shop_scoped(format: str) -> bool:
    """Whether the store is part of this format's order keys."""
    return format in PER_STORE or format in LABELLED_WITH_STORE


def order_key_prefix(format: str, source: str, store: str | None) -> str:
    """Everything of an order's key but the order id: `<namespace>|<shop>|`."""
    if format in PLATFORM_WIDE or format in PER_STORE:
        namespace = format
    else:
        namespace = f"source:{source}"
    shop = _escaped(store) if shop_scoped(format) and store else ""
    return f"{namespace}|{shop}|"


def _escaped(store: str) -> str:
    # a store name may hold '|': escaped so that a key reads back into one (namespace, shop, id) only
    return store.strip().replace("%", "%25").replace("|", "%7C")
