"""State changes for staff: users, roles, stores."""

from django.contrib.auth import get_user_model
from django.db import transaction

from siyu.staff.errors import StaffError
from siyu.staff.models import Role, StaffProfile, Store


@transaction.atomic
def create_user(
    username: str,
    password: str,
    role: str,
    *,
    store: Store | None = None,
    display_name: str = "",
    wecom_userid: str = "",
):
    if role not in Role.values:
        raise StaffError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    if role in (Role.MANAGER, Role.GUIDE) and store is None and role == Role.MANAGER:
        raise StaffError("a manager needs a store")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise StaffError(f"user {username!r} already exists")
    user = User.objects.create_user(
        username=username, password=password, is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN
    )
    StaffProfile.objects.create(
        user=user, role=role, store=store, display_name=display_name or username, wecom_userid=wecom_userid
    )
    return user


def ensure_store(code: str, name: str, city: str = "") -> Store:
    store, _ = Store.objects.get_or_create(code=code, defaults={"name": name, "city": city})
    return store
