"""A small brand for the customer and API tests: staff in two stores and a few customers written straight
into an empty warehouse (the same tables import + resolve fill)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from siyu.core import pii
from siyu.customers.models import CustomerState
from siyu.staff.actions import create_user, ensure_store
from siyu.staff.models import Role
from siyu.warehouse.customer_orders import rebuild_on


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Order:
    order_id: str
    amount: str
    order_time: str
    status: str = "交易成功"
    status_class: str = "purchase"
    items: list[tuple[str, int, str]] = field(default_factory=list)  # (product, quantity, amount)
    store: str | None = None


@dataclass
class Person:
    customer_id: int
    name: str
    phone: str  # normalised, +86…
    sources: tuple[str, ...] = ("taobao",)
    email: str | None = None
    address: str | None = None
    province: str | None = None
    city: str | None = None
    stage: str | None = None
    orders: list[Order] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # (event_type, occurred_at)
    tags: list[str] | None = None
    owner_staff: str | None = None
    acquired_at: str = "2023-01-01 08:00:00"


def add_person(con, person: Person) -> None:
    cid = person.customer_id
    record_keys = []
    for number, source in enumerate(person.sources):
        record_key = f"{source}|r{cid}"
        record_keys.append(record_key)
        con.execute(
            "INSERT INTO records (record_key, source, format, record_kind, record_id, name_hash, name_masked,"
            " phone_hash, phone_masked, phone_tail, phone_kind, email_hash, email_masked, province, city, pii,"
            " seen_at, owner_staff) VALUES (?, ?, ?, 'contact', ?, ?, ?, ?, ?, ?, 'mobile', ?, ?, ?, ?, ?, ?, ?)",
            [
                record_key,
                source,
                source,
                f"r{cid}",
                pii.keyed_hash(person.name),
                pii.mask_name(person.name),
                pii.keyed_hash(person.phone),
                pii.mask_phone(person.phone),
                person.phone[-4:],
                pii.keyed_hash(person.email),
                pii.mask_email(person.email),
                person.province,
                person.city,
                pii.encrypt_json(
                    {
                        "name": person.name,
                        "phone": person.phone,
                        "email": person.email,
                        "address": person.address,
                    }
                ),
                at(person.acquired_at) if number == 0 else at("2024-02-02 00:00:00"),
                person.owner_staff,
            ],
        )
        con.execute("INSERT INTO customer_map VALUES (?, ?, ?)", [record_key, cid, at("2024-06-01 00:00:00")])
    for order in person.orders:
        order_key = f"{person.sources[0]}|{order.order_id}"
        con.execute(
            "INSERT INTO orders (order_key, source, format, order_id, record_key, status_raw, status_class,"
            " order_time, amount, store, batch_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'b1', ?)",
            [
                order_key,
                person.sources[0],
                person.sources[0],
                order.order_id,
                record_keys[0],
                order.status,
                order.status_class,
                at(order.order_time),
                Decimal(order.amount),
                order.store,
                at(order.order_time),
            ],
        )
        for number, (product, quantity, amount) in enumerate(order.items):
            con.execute(
                "INSERT INTO order_items (order_key, item_key, product, quantity, amount) VALUES (?, ?, ?, ?, ?)",
                [order_key, f"{order_key}|{number}", product, quantity, Decimal(amount)],
            )
    for number, (event_type, occurred_at) in enumerate(person.events):
        con.execute(
            "INSERT INTO events (event_key, source, record_key, event_type, occurred_at, properties)"
            " VALUES (?, ?, ?, ?, ?, '{}')",
            [f"e{cid}-{number}", person.sources[-1], record_keys[-1], event_type, at(occurred_at)],
        )
    purchases = [o for o in person.orders if o.status_class == "purchase"]
    spend = sum((Decimal(o.amount) for o in purchases), Decimal("0"))
    times = sorted(at(o.order_time) for o in purchases)
    con.execute(
        "INSERT INTO customer_summary (customer_id, record_count, sources, acquisition_source, acquired_at,"
        " name_masked, name_hash, phone_masked, phone_tail, phone_hash, province, city, first_purchase_at,"
        " last_purchase_at, orders, spend, aov, stage, tags, owner_staff, pii_record_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            cid,
            len(record_keys),
            list(person.sources),
            person.sources[0],
            at(person.acquired_at),
            pii.mask_name(person.name),
            pii.keyed_hash(person.name),
            pii.mask_phone(person.phone),
            person.phone[-4:],
            pii.keyed_hash(person.phone),
            person.province,
            person.city,
            times[0] if times else None,
            times[-1] if times else None,
            len(purchases),
            spend,
            (spend / len(purchases)).quantize(Decimal("0.01")) if purchases else None,
            person.stage,
            person.tags,
            person.owner_staff,
            record_keys[0],
        ],
    )


ZHANG = Person(
    1001,
    "张三",
    "+8613812345678",
    sources=("taobao", "wecom"),
    email="zhang.san@example.com",
    address="浙江省杭州市西湖区文三路100号",
    province="浙江",
    city="杭州",
    stage="repeat",
    orders=[
        Order("T1", "120.00", "2024-03-01 10:00:00", items=[("面霜", 1, "120.00")]),
        Order("T2", "80.50", "2024-05-01 09:30:00", items=[("精华", 1, "60.50"), ("小样", 2, "20.00")]),
        Order("T3", "50.00", "2024-05-20 09:30:00", status="交易关闭", status_class="cancelled"),
    ],
    events=[("page_view", "2024-05-10 12:00:00")],
    tags=["会员等级:金卡", "高价值"],
    owner_staff="wang",
)
LI = Person(
    1002,
    "李四",
    "+8613900001234",
    sources=("jd",),
    province="上海",
    city="上海",
    stage="first_purchase",
    orders=[Order("J1", "99.00", "2024-04-01 10:00:00")],
    tags=["会员等级:银卡"],
    owner_staff="李导购",
)
WANG = Person(1003, "王五", "+8613700005678", sources=("douyin",), province="浙江", city="宁波", stage="lead")
ZHAO = Person(
    1004,
    "赵六",
    "+8613600009999",
    sources=("pos", "wecom"),
    province="北京",
    city="北京",
    stage="dormant",
    orders=[Order("P1", "300.00", "2023-06-01 10:00:00")],
    owner_staff="nobody",
)
PEOPLE = [ZHANG, LI, WANG, ZHAO]


@dataclass
class Brand:
    admin: object
    operator: object
    manager: object
    guide1: object
    guide2: object
    guide3: object
    other_manager: object


def make_staff() -> Brand:
    s1 = ensure_store("S1", "西湖店", "杭州")
    s2 = ensure_store("S2", "外滩店", "上海")
    return Brand(
        admin=create_user("admin", "pw-admin-1", Role.ADMIN),
        operator=create_user("op", "pw-op-1234", Role.OPERATOR, display_name="运营小刘"),
        manager=create_user("mgr1", "pw-mgr-123", Role.MANAGER, store=s1, display_name="店长一"),
        guide1=create_user(
            "g1", "pw-guide-1", Role.GUIDE, store=s1, display_name="王导购", wecom_userid="wang"
        ),
        guide2=create_user("g2", "pw-guide-2", Role.GUIDE, store=s1, display_name="李导购"),
        guide3=create_user("g3", "pw-guide-3", Role.GUIDE, store=s2, display_name="赵导购"),
        other_manager=create_user("mgr2", "pw-mgr-456", Role.MANAGER, store=s2, display_name="店长二"),
    )


def make_brand(warehouse, extra: int = 0) -> Brand:
    """The four people above (owned: 1001 by guide1, 1002 by guide2, 1003 by guide3, 1004 by nobody) plus
    `extra` plain customers 2000… with one order each on consecutive days."""
    con = warehouse.raw_connection()
    for person in PEOPLE:
        add_person(con, person)
    for n in range(extra):
        add_person(
            con,
            Person(
                2000 + n,
                f"客户{n:03d}",
                f"+86150{n:08d}",
                sources=("youzan",),
                province="江苏",
                stage="first_purchase",
                orders=[Order(f"Y{n}", "10.00", (datetime(2024, 1, 1) + timedelta(hours=n)).isoformat(" "))],
            ),
        )
    rebuild_on(con)  # what resolve keeps beside the customer map
    brand = make_staff()
    CustomerState.objects.create(customer_id=1001, owner=brand.guide1)
    CustomerState.objects.create(customer_id=1002, owner=brand.guide2)
    CustomerState.objects.create(customer_id=1003, owner=brand.guide3)
    return brand
