# The loyalty app's starting point: its parts (points, coupons, tiers, earning, checkin, mall) each add
# their tables from here.
from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations: list = []
