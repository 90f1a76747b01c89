from siyu.staff.models import PII_ROLES, Role, StaffProfile


def role_of(user) -> str | None:
    if not user or not user.is_authenticated:
        return None
    profile = getattr(user, "staff", None)
    if profile is None:
        return Role.ADMIN if user.is_superuser else None
    return profile.role


def can_view_pii(user) -> bool:
    role = role_of(user)
    return role in PII_ROLES or bool(user and user.is_authenticated and user.has_perm("customers.view_pii"))


def guides_of_store(store_id: int) -> list[int]:
    return list(
        StaffProfile.objects.filter(store_id=store_id, role=Role.GUIDE).values_list("user_id", flat=True)
    )
