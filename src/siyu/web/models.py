from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """A write replayed with the same key gets the first response instead of a second effect."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # created by the api app before the web app existed: the table keeps its name
        db_table = "api_idempotencykey"
        constraints = [models.UniqueConstraint(fields=["user", "key", "endpoint"], name="idempotency_once")]
