# Loyalty's tiers: definitions, member tier state, tier changes.

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
            name='Tier',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=50, unique=True)),
                ('rank', models.PositiveSmallIntegerField(help_text='higher ranks are better tiers', unique=True)),
                ('measure', models.CharField(choices=[('spend', 'Spend'), ('orders', 'Orders'), ('points', 'Points')], default='spend', max_length=10)),
                ('threshold', models.DecimalField(decimal_places=2, default=Decimal('0'), max_digits=14)),
                ('window_days', models.PositiveIntegerField(default=365)),
                ('multiplier', models.DecimalField(decimal_places=2, default=Decimal('1.00'), max_digits=4)),
                ('upgrade_coupon_template_id', models.PositiveBigIntegerField(blank=True, null=True)),
                ('birthday_points', models.PositiveIntegerField(default=0)),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['rank'],
            },
        ),
        migrations.CreateModel(
            name='TierChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('customer_id', models.BigIntegerField(db_index=True)),
                ('kind', models.CharField(choices=[('upgrade', 'Upgrade'), ('downgrade', 'Downgrade'), ('grace', 'Grace')], max_length=10)),
                ('measured', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True)),
                ('changed_at', models.DateTimeField(db_index=True)),
                ('coupon_id', models.PositiveBigIntegerField(blank=True, null=True)),
                ('changed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('from_tier', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='loyalty.tier')),
                ('to_tier', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='loyalty.tier')),
            ],
            options={
                'ordering': ['-changed_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='MemberTier',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('customer_id', models.BigIntegerField(unique=True)),
                ('since', models.DateTimeField()),
                ('review_on', models.DateField(blank=True, null=True)),
                ('grace_until', models.DateField(blank=True, null=True)),
                ('evaluated_at', models.DateTimeField(blank=True, null=True)),
                ('tier', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='members', to='loyalty.tier')),
            ],
            options={
                'indexes': [models.Index(fields=['tier', 'customer_id'], name='loyalty_mem_tier_id_1ad3f6_idx')],
            },
        ),
    ]
