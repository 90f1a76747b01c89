from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    OPERATOR = "operator", _("Operator")
    MANAGER = "manager", _("Store manager")
    GUIDE = "guide", _("Guide")


# Roles that see PII in clear by default; others see masks. An admin can also grant the
# `customers.view_pii` permission to an individual user.
PII_ROLES = {Role.ADMIN, Role.OPERATOR}
# analytics and predictions cover the whole base
ANALYTICS_ROLES = {Role.ADMIN, Role.OPERATOR}


class Store(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)

    def __str__(self):
        return self.name


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff")
    display_name = models.CharField(max_length=100, blank=True)
    wecom_userid = models.CharField(max_length=64, blank=True, db_index=True)

    def __str__(self):
        return self.display_name or self.user.get_username()
