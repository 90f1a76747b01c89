"""A real `siyu serve` (tests/e2e/e2e_server.py): a `siyu import` handed to it and a burst of API orders
become customers without `siyu resolve`, a burst queues a few resolves rather than one per order, and a
segment saved through the API has its members at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from e2e.e2e_server import running_server, siyu_env

pytestmark = pytest.mark.slow

TAOBAO_CSV = (
    "订单编号,买家会员名,买家实际支付金额,订单状态,收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,宝贝标题,宝贝总数量\r\n"
    '="2001",tb_zhang,299.00,交易成功,张伟,上海 上海市 静安区 南京西路1号,\'13812345678,2026-03-01 10:00:00,2026-03-01 10:01:00,玫瑰精华水,1\r\n'
    '="2002",tb_li,88.00,交易成功,李娜,浙江省 杭州市 西湖区 文三路2号,13911112222,2026-03-02 11:00:00,,护手霜,1\r\n'
)
BURST = 40


def siyu(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "siyu.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def call(base, token, method, path, body=None, key=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_for_customers(base, token, count, timeout=120) -> int:
    deadline = time.monotonic() + timeout
    while True:
        total = call(base, token, "GET", "/api/customers?page_size=1")["total"]
        if total >= count or time.monotonic() > deadline:
            return total
        time.sleep(0.5)


def test_imports_and_api_orders_become_customers_without_a_resolve(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = siyu_env(home) | {"SIYU_RESOLVE_AFTER_API_SECONDS": "2"}  # as soon after a push as after an import
    assert siyu(env, "createuser", "ops", "--role", "operator", "--password", "ops-pass-2026").returncode == 0
    token = siyu(env, "createtoken", "ops").stdout.strip().splitlines()[-1]
    export = tmp_path / "tb.csv"
    export.write_bytes(TAOBAO_CSV.encode("gbk"))

    with running_server(env, home) as (_proc, base, _port):
        imported = siyu(env, "import", str(export), "--source", "tmall")
        assert imported.returncode == 0, imported.stderr
        assert "siyu serve resolves the new records next" in imported.stdout
        assert wait_for_customers(base, token, 2) == 2

        started = time.monotonic()
        for n in range(BURST):
            order = {
                "source": "miniprogram", "order_id": f"MP-{n}", "phone": f"1390000{n:04d}", "name": "王五",
                "order_time": "2026-03-01T12:00:00+08:00", "amount": "10.00", "status": "已支付",
                "items": [{"product": "面霜", "quantity": 1, "amount": "10.00"}],
            }  # fmt: skip
            call(base, token, "POST", "/api/orders", order, key=f"order-{n}")
        pushed_in = time.monotonic() - started
        assert wait_for_customers(base, token, 2 + BURST) == 2 + BURST

        segment = call(base, token, "POST", "/api/segments",
                       {"name": "小程序", "rule": {"bought": {"source": "miniprogram", "at_least": 1}}}, key="seg-1")  # fmt: skip
        assert segment["member_count"] == BURST

    with sqlite3.connect(home / "siyu.sqlite3") as db:
        jobs = db.execute("SELECT params, status FROM core_job WHERE kind = 'resolve' ORDER BY created_at").fetchall()
    api_runs = [status for params, status in jobs if json.loads(params).get("trigger") == "api"]
    print(f"\nresolve runs: {len(jobs)} in all, {len(api_runs)} for {BURST} API orders pushed in {pushed_in:.1f} s")
    assert all(status == "done" for _, status in jobs), jobs
    # one waiting resolve at a time: a burst of BURST orders is resolved by a few runs, not one each
    assert 1 <= len(api_runs) <= 1 + int(pushed_in / 2) + 2, (len(api_runs), pushed_in)
    assert len(api_runs) < BURST / 4
