"""What an order is worth counting as: the one definition of a purchase, beside the orders it reads."""

from __future__ import annotations

# the classes of `orders.status_class` (siyu.ingest.sources.formats.status_class writes them)
PURCHASE = "purchase"
NOT_PURCHASE = "not_purchase"
PENDING = "pending"


def is_purchase(orders):
    """True for an order that counts as a purchase everywhere (GMV, buyers, RFM, cohorts, predictions,
    lift, journey triggers): its status as last imported is a completed or paid sale. Closed, refunded and
    unpaid orders are not. `orders`: any Ibis table with `status_class` (orders, customer_orders)."""
    return orders.status_class == PURCHASE
