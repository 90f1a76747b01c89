# Joins the two merge migrations of the loyalty branches merged into loyalty-mirror (the integrator's merge
# migration replaces it).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0003_merge_checkin_mall"), ("loyalty", "0003_merge_loyalty_parts")]
    operations: list = []
