from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_drop_clear_secret"),
    ]

    operations = [
        migrations.AddField(
            model_name="sweepcursor",
            name="last_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
