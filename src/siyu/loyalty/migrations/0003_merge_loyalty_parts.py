# Merges the parts of loyalty built in parallel (each adds one 0002 on 0001_initial).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0002_checkin"),
        ("loyalty", "0002_coupons"),
        ("loyalty", "0002_earning"),
        ("loyalty", "0002_mall"),
        ("loyalty", "0002_points"),
        ("loyalty", "0002_tiers"),
    ]
    operations: list = []
