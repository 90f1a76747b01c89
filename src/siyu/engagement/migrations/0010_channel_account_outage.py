from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0009_send_personalised'),
    ]

    operations = [
        migrations.AddField(
            model_name='channelaccount',
            name='outage_failures',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='channelaccount',
            name='outage_since',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='channelaccount',
            name='probe_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
