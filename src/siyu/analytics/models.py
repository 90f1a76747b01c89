"""Control-plane state of analytics: what the brand spent per channel (entered in the console, through the
API or imported from CSV). Everything else analytics shows is computed from the warehouse."""

from django.conf import settings
from django.db import models


class ChannelSpend(models.Model):
    """Money spent on one channel over a period (both days included), e.g. ads or commissions paid to
    bring customers in through it. Periods of one channel never overlap (checked by the actions)."""

    channel = models.CharField(max_length=100, db_index=True)  # an import source, e.g. tmall, douyin
    date_from = models.DateField()
    date_to = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "date_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(date_from__lte=models.F("date_to")), name="spend_period_order"
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="spend_not_negative"),
        ]

    def __str__(self):
        return f"{self.channel} {self.date_from}–{self.date_to}: {self.amount}"
