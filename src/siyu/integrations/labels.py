"""What the console shows for event types and delivery statuses (Chinese first, via gettext)."""

from django.utils.translation import gettext_lazy as _

EVENT_TYPES = {
    "customer.created": _("New customer"),
    "customers.merged": _("Customers merged"),
    "segment.entered": _("Entered a segment"),
    "segment.left": _("Left a segment"),
    "order.imported": _("Order imported"),
    "consent.changed": _("Consent changed"),
    "points.changed": _("Points changed"),
    "test": _("Test event"),
}
STATUSES = {"pending": _("Waiting to retry"), "delivered": _("Delivered"), "dead": _("Given up")}
