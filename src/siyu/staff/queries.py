from siyu.core.errors import PermissionDenied
from siyu.staff.models import ANALYTICS_ROLES, PII_ROLES, Role, StaffProfile


def role_of(user) -> str | None:
    if not user or not user.is_authenticated:
        return None
    profile = getattr(user, "staff", None)
    if profile is None:
        return Role.ADMIN if user.is_superuser else None
    return profile.role


def has_role(user, roles) -> bool:
    """The one role check: a signed-in user whose role is one of `roles`; a superuser has every role."""
    if not user or not user.is_authenticated:
        return False
    return bool(user.is_superuser or role_of(user) in roles)


# Who may import channel files, run identity resolution and follow those jobs.
IMPORT_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
# Who may change a customer's owner guide.
ASSIGN_ROLES = frozenset({Role.ADMIN, Role.OPERATOR, Role.MANAGER})


def is_admin(user) -> bool:
    return has_role(user, {Role.ADMIN})


def can_import(user) -> bool:
    return has_role(user, IMPORT_ROLES)


def can_assign_owner(user) -> bool:
    return has_role(user, ASSIGN_ROLES)


def check_analytics_access(user) -> None:
    """Analytics and predictions cover the whole base: administrators and operators only."""
    if not has_role(user, ANALYTICS_ROLES):
        raise PermissionDenied("analytics is open to administrators and operators")


def can_view_pii(user) -> bool:
    role = role_of(user)
    return role in PII_ROLES or bool(user and user.is_authenticated and user.has_perm("customers.view_pii"))


def guides_of_store(store_id: int) -> list[int]:
    return list(
        StaffProfile.objects.filter(store_id=store_id, role=Role.GUIDE).values_list("user_id", flat=True)
    )


def store_of(user) -> int | None:
    profile = getattr(user, "staff", None) if user is not None else None
    return profile.store_id if profile is not None else None


def display_name_of(user) -> str | None:
    if user is None:
        return None
    profile = getattr(user, "staff", None)
    return (profile.display_name if profile is not None and profile.display_name else None) or user.get_username()


def display_names(user_ids) -> dict[int, str]:
    """user id -> the name the console shows for that staff member."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(pk__in=set(user_ids)).select_related("staff")
    return {user.pk: display_name_of(user) for user in users}


def names_of_wecom_users(userids) -> dict[str, str]:
    """{WeCom userid: the name the console shows} of the staff members Siyu knows."""
    wanted = {u for u in userids if u}
    rows = StaffProfile.objects.filter(wecom_userid__in=wanted).select_related("user")
    return {p.wecom_userid: str(p) for p in rows}


def staff_by_handle() -> dict[str, int | None]:
    """How imported files name staff (a WeCom userid or a display name) -> the user it means.

    A WeCom userid wins over a display name; a display name shared by two people maps to None
    (ambiguous: the caller must not guess)."""
    by_wecom: dict[str, set[int]] = {}
    by_name: dict[str, set[int]] = {}
    for user_id, name, wecom in StaffProfile.objects.values_list("user_id", "display_name", "wecom_userid"):
        if wecom and wecom.strip():
            by_wecom.setdefault(wecom.strip(), set()).add(user_id)
        if name and name.strip():
            by_name.setdefault(name.strip(), set()).add(user_id)
    resolved: dict[str, int | None] = {}
    for handle, ids in by_name.items():
        resolved[handle] = next(iter(ids)) if len(ids) == 1 else None
    for handle, ids in by_wecom.items():
        resolved[handle] = next(iter(ids)) if len(ids) == 1 else None
    return resolved
