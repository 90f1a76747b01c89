from siyu.identity.actions import resolve_identities


def test_smoke(rows):
    rows.record("youzan|o1", kind="order", seen=1, phone_hash="h:138")
    rows.ident("youzan|o1", "phone", "138")
    rows.record("pos|m1", kind="member", seen=0)
    rows.ident("pos|m1", "phone", "138")
    rows.ident("pos|m1", "member_no", "m1")
    rows.record("pos|s1", kind="sale", seen=5)
    rows.ident("pos|s1", "member_no", "m1")
    rows.record("tb|x", seen=3)
    rows.order("youzan|o1", amount="10.50", at=rows_t(1))
    rep = resolve_identities()
    print(rep)
    print(rows.table("customer_map"))
    print(rows.table("customer_summary"))
    rep = resolve_identities()
    print(rep)


def rows_t(d):
    from datetime import timedelta
    from conftest import T0
    return T0 + timedelta(days=d)
