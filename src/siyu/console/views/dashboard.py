from django.shortcuts import render
from django.utils.translation import gettext as _

from siyu.console.queries import dashboard_counts
from siyu.staff.models import Role
from siyu.staff.queries import can_import, role_of
from siyu.web.views import console_view, forbidden


@console_view
def dashboard(request):
    role = role_of(request.user)
    if role is None:
        return forbidden(
            request, _("This account has no staff role yet; ask an administrator to give it one.")
        )
    context = {"role": role, "can_import": can_import(request.user)}
    if role in (Role.GUIDE, Role.MANAGER):
        # A guide's console is their own customers; a store manager's, the store's.
        from siyu.customers.queries import list_customers

        context["my_customers"] = list_customers(request.user, page_size=1).total
    else:
        context["counts"] = dashboard_counts()
    return render(request, "siyu/console/dashboard.html", context)
