# Coupons get a change stamp (the warehouse mirror reads the coupons changed since its last run by it); the
# coupons there are stamped with their last change as they say it (used, voided, else issued).
from django.db import migrations, models
from django.db.models.functions import Coalesce


def stamp_coupons(apps, schema_editor):
    coupon = apps.get_model("loyalty", "Coupon")
    coupon.objects.filter(changed_at__isnull=True).update(changed_at=Coalesce("used_at", "voided_at", "issued_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0003_merge_loyalty_parts'),
    ]

    operations = [
        migrations.AddField(
            model_name='coupon',
            name='changed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='coupon',
            index=models.Index(fields=['changed_at'], name='coupon_changed'),
        ),
        migrations.RunPython(stamp_coupons, migrations.RunPython.noop),
    ]
