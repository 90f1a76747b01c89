from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0003_token_scopes_and_expiry"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
