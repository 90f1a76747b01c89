# Loyalty's earn rules: rules, points per order, activity awards and daily totals, earn runs.

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='EarnRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('started_at', models.DateTimeField()),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('since', models.DateTimeField(blank=True, null=True)),
                ('watermark', models.DateTimeField(blank=True, null=True)),
                ('orders', models.PositiveIntegerField(default=0)),
                ('awarded', models.PositiveIntegerField(default=0)),
                ('reversed', models.PositiveIntegerField(default=0)),
                ('points', models.BigIntegerField(default=0)),
                ('first_purchases', models.PositiveIntegerField(default=0)),
                ('seconds', models.FloatField(default=0)),
            ],
            options={
                'ordering': ['-started_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='OrderPoints',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source_ref', models.CharField(max_length=300, unique=True)),
                ('customer_id', models.BigIntegerField(db_index=True)),
                ('amount', models.DecimalField(decimal_places=2, max_digits=18)),
                ('points', models.IntegerField()),
                ('generation', models.PositiveIntegerField(default=1)),
                ('reversed', models.BooleanField(default=False)),
                ('updated_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='ActivityAward',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=200, unique=True)),
                ('customer_id', models.BigIntegerField()),
                ('activity', models.CharField(choices=[('per_yuan', 'Per Yuan'), ('first_purchase', 'First Purchase'), ('birthday', 'Birthday'), ('checkin', 'Checkin'), ('survey', 'Survey'), ('daily_limit', 'Daily Limit')], max_length=20)),
                ('day', models.DateField()),
                ('points', models.PositiveIntegerField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'indexes': [models.Index(fields=['customer_id', 'day'], name='loyalty_act_custome_0ed1f8_idx')],
            },
        ),
        migrations.CreateModel(
            name='DailyActivityTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('customer_id', models.BigIntegerField()),
                ('day', models.DateField()),
                ('points', models.PositiveIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('customer_id', 'day'), name='loyalty_daily_activity_once')],
            },
        ),
        migrations.CreateModel(
            name='EarnRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('kind', models.CharField(choices=[('per_yuan', 'Per Yuan'), ('first_purchase', 'First Purchase'), ('birthday', 'Birthday'), ('checkin', 'Checkin'), ('survey', 'Survey'), ('daily_limit', 'Daily Limit')], max_length=20)),
                ('channel', models.CharField(blank=True, max_length=100)),
                ('product', models.CharField(blank=True, max_length=200)),
                ('points_per_yuan', models.DecimalField(decimal_places=2, default=Decimal('0'), max_digits=8)),
                ('points', models.PositiveIntegerField(default=0)),
                ('expiry', models.CharField(choices=[('end_of_next_year', 'End Of Next Year'), ('days', 'Days'), ('never', 'Never')], default='end_of_next_year', max_length=20)),
                ('expiry_days', models.PositiveIntegerField(default=365)),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['kind', 'channel', 'product', 'pk'],
                'indexes': [models.Index(fields=['kind', 'active'], name='loyalty_ear_kind_202af1_idx')],
            },
        ),
    ]
