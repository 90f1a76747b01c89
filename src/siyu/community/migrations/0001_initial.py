# The community app's starting point: its parts (groups, archive, handover) each add their tables from here.
from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations: list = []
