# Joins loyalty's parts' 0002 migrations on this branch (the integrator's merge migration replaces it).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0002_checkin"), ("loyalty", "0002_coupons"), ("loyalty", "0002_mall"), ("loyalty", "0002_points")]
    operations: list = []
