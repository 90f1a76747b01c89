"""Orders are keyed by platform and shop, not by the free-text source label (siyu.warehouse.order_keys):
the same export imported under two labels adds each order once, and warehouses keyed the old way are
upgraded when opened."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_import import q, taobao_row, write_taobao

from siyu.ingest.actions import import_files
from siyu.warehouse.order_keys import order_key_prefix

pytestmark = pytest.mark.django_db


def _resolve():
    from siyu.identity.actions import resolve_identities

    return resolve_identities()


def test_the_same_taobao_export_under_two_labels_adds_each_order_once(warehouse, tmp_path):
    path = write_taobao(
        tmp_path / "tb.csv",
        [taobao_row(order="1001", amount="100"), taobao_row(order="1002", buyer="tb_buyer2", amount="50")],
    )
    first = import_files([path], "tmall").totals()
    second = import_files([path], "tmall_flagship").totals()
    assert (first["orders_new"], second["orders_new"], second["orders_updated"]) == (2, 0, 0)
    assert q(warehouse, "SELECT order_key FROM orders ORDER BY 1") == [("taobao||1001",), ("taobao||1002",)]
    assert q(warehouse, "SELECT count(*) FROM order_items") == [(2,)]
    # the records stay keyed by label: two per order, each label's own
    assert q(warehouse, "SELECT count(*), count(DISTINCT source) FROM records") == [(4, 2)]

    # the second label's records join the first's customer through the buyer id both carry
    _resolve()
    rows = q(
        warehouse,
        "SELECT r.record_id, count(DISTINCT m.customer_id) FROM records r JOIN customer_map m USING (record_key) "
        "GROUP BY 1 ORDER BY 1",
    )
    assert rows == [("1001", 1), ("1002", 1)]
    assert q(warehouse, "SELECT count(*) FROM customer_summary") == [(2,)]
    spend = q(warehouse, "SELECT orders, spend FROM customer_summary ORDER BY spend")
    assert spend == [(1, Decimal("50.00")), (1, Decimal("100.00"))]
    assert q(warehouse, "SELECT count(*), sum(amount) FROM customer_orders") == [(2, Decimal("150.00"))]


def test_masked_buyers_imported_under_two_labels_are_one_customer_each_through_their_orders(warehouse, tmp_path):
    """Douyin gives no buyer id and masks phones: the second label's record of an order joins the first
    through the order itself."""
    lines = ["主订单编号,子订单编号,选购商品,商品数量,订单应付金额,收件人,收件人手机号,省,市,区,街道,详细地址,订单提交时间,订单状态"]
    for i in range(20):
        lines.append(f"69{i:017d},69{i:017d}1,口红,1,89.90,王*,176****{i:04d},浙江省,杭州市,西湖区,,文三路{i}号,"
                     "2025-06-18 20:00:00,已完成")  # fmt: skip
    path = tmp_path / "dy.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_files([path], "douyin")
    import_files([path], "douyin-2")
    _resolve()
    assert q(warehouse, "SELECT count(*) FROM records") == [(40,)]
    assert q(warehouse, "SELECT count(*), sum(orders) FROM customer_summary") == [(20, 20)]


def test_a_later_export_under_another_label_updates_the_order(warehouse, tmp_path):
    pending = write_taobao(tmp_path / "a.csv", [taobao_row(status="等待买家付款", amount="99")])
    done = write_taobao(tmp_path / "b.csv", [taobao_row(status="交易成功", amount="99")])
    import_files([pending], "tmall")
    totals = import_files([done], "taobao-backup").totals()
    assert (totals["orders_new"], totals["orders_updated"]) == (0, 1)
    assert q(warehouse, "SELECT source, status_class FROM orders") == [("tmall", "purchase")]


def test_jd_douyin_and_youzan_orders_are_keyed_by_platform(warehouse, tmp_path):
    jd = tmp_path / "jd.csv"
    jd.write_text(
        "订单号,商品名称,订购数量,下单时间,应付金额,订单状态,下单帐号\n9001,精华,1,2025/3/5 9:07,300.00,已完成,jd_user\n",
        encoding="utf-8",
    )
    youzan = tmp_path / "yz.csv"
    youzan.write_text(
        "订单号,归属店铺,订单状态,订单创建时间,订单实付金额,买家手机号\nE1,上海店,交易成功,2025-03-01 10:00:00,10,13800000001\n",
        encoding="utf-8",
    )
    import_files([jd], "jd-a")
    import_files([jd], "jd-b")
    import_files([youzan], "yz-a")
    import_files([youzan], "yz-b")
    assert q(warehouse, "SELECT order_key, store FROM orders ORDER BY 1") == [
        ("jd||9001", None),
        ("youzan||E1", "上海店"),  # the platform numbers orders across its shops: the shop is not in the key
    ]


def test_pos_tills_number_per_store_so_the_store_is_in_the_key(warehouse, tmp_path):
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "单号,会员卡号,门店,销售时间,商品名称,数量,金额\r\n"
        "S1,M001,深圳湾店,2025-05-01 12:00:00,面霜,1,500\r\n"
        "S1,M002,南山|店,2025-05-01 13:00:00,精华,1,300\r\n",
        encoding="utf-8",
    )
    import_files([sales], "pos-a", "pos")
    import_files([sales], "pos-b", "pos")
    assert q(warehouse, "SELECT order_key, amount FROM orders ORDER BY 1") == [
        ("pos|南山%7C店|S1", Decimal("300.00")),
        ("pos|深圳湾店|S1", Decimal("500.00")),
    ]


def test_generic_orders_are_keyed_by_their_label_and_store(warehouse, tmp_path):
    """A generic file carries no platform: its label names the system that numbered the orders."""
    path = tmp_path / "till.csv"
    path.write_text("单号,手机,店,时间,金额\n1,13800000001,A,2025-01-01 10:00:00,5\n1,13800000002,B,2025-01-01 11:00:00,7\n")
    mapping = {"单号": "order_id", "手机": "phone", "店": "store", "时间": "order_time", "金额": "amount"}
    import_files([path], "till", "generic", mapping)
    import_files([path], "till", "generic", mapping)
    assert q(warehouse, "SELECT order_key FROM orders ORDER BY 1") == [("source:till|A|1",), ("source:till|B|1",)]
    import_files([path], "till-copy", "generic", mapping)  # another label is another system
    assert q(warehouse, "SELECT count(*) FROM orders") == [(4,)]


def test_api_orders_are_keyed_by_their_label_without_the_store(warehouse):
    from siyu.ingest.actions import ingest_api_records

    row = {"record_id": "A1", "order_id": "A1", "phone": "13800000001", "order_time": "2025-01-01 10:00:00",
           "amount": "9", "store": "SH", "items": [{"product": "面霜", "quantity": 1, "amount": "9"}]}  # fmt: skip
    ingest_api_records("miniapp", "order", [row])
    update = {**row, "store": None, "status": "已退款"}
    assert ingest_api_records("miniapp", "order", [update])["orders_updated"] == 1
    assert q(warehouse, "SELECT order_key, status_class FROM orders") == [("source:miniapp||A1", "not_purchase")]


@given(
    st.text(min_size=1, max_size=8).filter(lambda s: s.strip() == s),
    st.text(min_size=1, max_size=8).filter(lambda s: s.strip() == s),
    st.text(max_size=8),
    st.text(max_size=8),
)
def test_a_store_name_never_makes_two_orders_share_a_key(store_a, store_b, id_a, id_b):
    key_a = order_key_prefix("pos", "x", store_a) + id_a
    key_b = order_key_prefix("pos", "x", store_b) + id_b
    assert (key_a == key_b) == (store_a == store_b and id_a == id_b)


def test_a_warehouse_keyed_by_label_is_upgraded_when_opened(warehouse, tmp_path):
    from siyu.warehouse.customer_orders import customer_orders_expr

    path = write_taobao(tmp_path / "tb.csv", [taobao_row(order="1001", amount="100", status="等待买家付款")])
    later = write_taobao(tmp_path / "tb2.csv", [taobao_row(order="1001", amount="100", status="交易成功")])
    import_files([path], "tmall")
    _resolve()
    raw = warehouse.raw_connection()
    # what the old version wrote for the same export under a second label: a second order and its line
    raw.execute("UPDATE orders SET order_key = 'tmall|1001'")
    raw.execute("UPDATE order_items SET order_key = 'tmall|1001'")
    raw.execute(
        "INSERT INTO orders SELECT * REPLACE ('shop2|1001' AS order_key, 'shop2' AS source, '交易成功' AS status_raw, "
        "'purchase' AS status_class, updated_at + INTERVAL 1 HOUR AS updated_at) FROM orders"
    )
    raw.execute("INSERT INTO order_items SELECT * REPLACE ('shop2|1001' AS order_key) FROM order_items")
    raw.execute("DELETE FROM warehouse_upgrades")
    from siyu.warehouse.customer_orders import rebuild_on

    rebuild_on(raw)
    assert q(warehouse, "SELECT count(*) FROM customer_orders") == [(2,)]
    warehouse.close()

    raw = warehouse.raw_connection()  # opening it upgrades it
    assert q(warehouse, "SELECT order_key, legacy_key, status_class FROM orders") == [
        ("taobao||1001", "shop2|1001", "purchase")  # the latest version stays
    ]
    assert q(warehouse, "SELECT order_key, item_key FROM order_items") == [("taobao||1001", "#1")]
    assert q(warehouse, "SELECT count(*), sum(amount) FROM customer_orders") == [(1, Decimal("100.00"))]
    expected = customer_orders_expr(warehouse.backend()).to_pyarrow().to_pylist()
    assert q(warehouse, "SELECT order_key FROM customer_orders") == [(r["order_key"],) for r in expected]
    (report,), = q(warehouse, "SELECT report FROM warehouse_upgrades WHERE name = 'order_keys_by_platform'")
    assert '"merged": 1' in report
    warehouse.close()
    warehouse.raw_connection()  # once only
    assert q(warehouse, "SELECT count(*) FROM warehouse_upgrades WHERE name = 'order_keys_by_platform'") == [(1,)]
    # a later export of the order lands on the upgraded key
    assert import_files([later], "tmall").totals()["orders_new"] == 0
    assert q(warehouse, "SELECT count(*) FROM orders") == [(1,)]


def test_journeys_name_an_upgraded_order_by_its_old_key(warehouse, tmp_path):
    """Enrollments remember the order that let a customer in as "order:<key>": after the upgrade the
    same order must not look like a new one."""
    from siyu.engagement.journeys.definitions import ORDER_PLACED
    from siyu.engagement.journeys.queries import _event_facts

    path = write_taobao(tmp_path / "tb.csv", [taobao_row(order="1001", amount="100")])
    import_files([path], "tmall")
    _resolve()
    raw = warehouse.raw_connection()
    raw.execute("UPDATE orders SET order_key = 'tmall|1001'")
    raw.execute("UPDATE order_items SET order_key = 'tmall|1001'")
    raw.execute("DELETE FROM warehouse_upgrades")
    warehouse.close()
    facts = _event_facts(warehouse.backend(), ORDER_PLACED).to_pyarrow().to_pylist()
    assert [f["fact_key"] for f in facts] == ["order:tmall|1001"]
    new = write_taobao(tmp_path / "new.csv", [taobao_row(order="2002", amount="5")])
    import_files([new], "tmall")
    _resolve()
    facts = _event_facts(warehouse.backend(), ORDER_PLACED).to_pyarrow().to_pylist()
    assert sorted(f["fact_key"] for f in facts) == ["order:taobao||2002", "order:tmall|1001"]


def test_prefix_of_each_format():
    assert order_key_prefix("taobao", "tmall", "旗舰店") == "taobao||"
    assert order_key_prefix("pos", "pos-a", " 深圳湾店 ") == "pos|深圳湾店|"
    assert order_key_prefix("pos", "pos-a", None) == "pos||"
    assert order_key_prefix("generic", "crm", "A") == "source:crm|A|"
    assert order_key_prefix("api", "miniapp", "A") == "source:miniapp||"
