"""The transactional outbox of events for outside systems (docs/integrations.md).

Each domain writes an OutboundEvent in the same control-plane transaction as the change it reports, or, for
a change made in the warehouse, right after that change with a key derived from it (a repeat adds nothing).
siyu.integrations, high in the layers, fans each event out to the subscriptions that want it; this app sits
low (below ingest) so every domain may record events without knowing who receives them.
"""

import uuid

from django.db import models


class OutboundEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # receivers' idempotency key
    type = models.CharField(max_length=40)
    customer_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    # what makes a repeat of the same change one event (a warehouse change recorded again after a crash)
    dedupe_key = models.CharField(max_length=200, unique=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    # set when siyu.integrations made the deliveries of this event (in the same transaction)
    fanned_out_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["recorded_at", "id"]
