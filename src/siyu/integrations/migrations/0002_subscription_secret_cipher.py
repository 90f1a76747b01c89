"""Subscriptions' signing secrets encrypted at rest: each existing secret is written as pii.encrypt ciphertext
under the newest PII key (the clear column is dropped by 0003)."""

from django.db import migrations, models


def encrypt_secrets(apps, schema_editor):
    from siyu.core import pii

    Subscription = apps.get_model("integrations", "Subscription")
    for pk, secret in Subscription.objects.values_list("pk", "secret").iterator():
        Subscription.objects.filter(pk=pk).update(secret_cipher=pii.encrypt(secret.encode()))


def decrypt_secrets(apps, schema_editor):
    from siyu.core import pii

    Subscription = apps.get_model("integrations", "Subscription")
    for pk, cipher in Subscription.objects.exclude(secret_cipher=None).values_list("pk", "secret_cipher"):
        Subscription.objects.filter(pk=pk).update(secret=pii.decrypt(bytes(cipher)).decode())


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="secret_cipher",
            field=models.BinaryField(null=True),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
