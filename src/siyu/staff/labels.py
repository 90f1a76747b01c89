"""The words operators read for the staff roles (siyu.staff.models.Role)."""

from django.utils.translation import gettext_lazy as _

ROLES = {
    "admin": _("Administrator"),
    "operator": _("Operator"),
    "manager": _("Store manager"),
    "guide": _("Guide"),
}
