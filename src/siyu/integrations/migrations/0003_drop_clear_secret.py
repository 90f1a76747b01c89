"""The clear secret column goes (0002 encrypted it); a delivery outlives its event (retention of events)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_subscription_secret_cipher"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="subscription",
            name="secret",
        ),
        migrations.AlterField(
            model_name="subscription",
            name="secret_cipher",
            field=models.BinaryField(),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="event",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to="outbox.outboundevent",
            ),
        ),
    ]
