"""The users of `siyu bench load`, run by locust (a dev dependency, used as a library) in a child process of
their own: locust runs on gevent and patches the standard library, which the benchmark's Django process
must not see. Arguments come as JSON on stdin; the result is one JSON object on the last line of stdout.

- API clients (`api_users`, back to back, no think time) post events in batches of `batch` to
  /api/events/batch and, every tenth request, `batch // 10` orders to /api/orders/batch, with an API token
  and an Idempotency-Key per request. Every id is unique to the run, so each accepted fact must be in the
  warehouse exactly once afterwards.
- Operators (`users`) sign in to the console and browse, with a think time of 1–5 s between clicks: the
  customer list (a page among the first 20), a search by a phone tail, customer profiles, the segments and
  one segment, and the analytics pages.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

THINK_SECONDS = (1, 5)
LIST_PAGES = 20
ORDERS_EVERY = 10  # every tenth API request posts orders instead of events
SIGN_IN_SECONDS = 600.0  # at most this long for every operator to sign in before the measured window
STOP_TIMEOUT = 300.0  # seconds a user may take to finish its last request after the duration
EVENT_TYPES = ("page_view", "add_to_cart", "coupon_claimed", "product_view", "search")


def run(args: dict) -> dict:
    import psutil
    from gevent import sleep, spawn_later
    from locust import FastHttpUser, between, constant, events, task
    from locust.env import Environment

    host = args["host"]
    run_id = args["run_id"]
    source = args["source"]
    batch = int(args["batch"])
    statuses: Counter = Counter()
    signed_in: list[int] = []
    tally = Counter()
    started = datetime(2026, 11, 1, 12, 0, 0)

    @events.request.add_listener
    def count_status(request_type, name, response_time, response_length, response=None, exception=None, **kw):
        code = getattr(response, "status_code", None) or 0
        statuses[f"{name} {code}" if code >= 400 or code == 0 else str(code)] += 1

    class ApiClient(FastHttpUser):
        fixed_count = int(args["api_users"])
        wait_time = constant(0)
        network_timeout = 120.0
        connection_timeout = 30.0

        def on_start(self):
            self.n = 0
            self.who = f"{run_id}-{id(self) % 100000:05d}"
            self.rng = random.Random(id(self))
            self.headers = {"Authorization": f"Bearer {args['token']}", "Content-Type": "application/json"}

        def _phone(self) -> str:
            return f"13{self.rng.randrange(10**9):09d}"

        @task
        def push(self):
            self.n += 1
            key = f"{self.who}-{self.n}"
            if self.n % ORDERS_EVERY == 0:
                kind, path = "orders", "/api/orders/batch"
                body = {"orders": [self._order(f"{key}-{i}") for i in range(max(1, batch // 10))]}
            else:
                kind, path = "events", "/api/events/batch"
                body = {"events": [self._event(f"{key}-{i}") for i in range(batch)]}
            payload = json.dumps(body, ensure_ascii=False)
            with self.client.post(path, data=payload, headers={**self.headers, "Idempotency-Key": key},
                                  name=f"api {kind} batch", catch_response=True) as resp:  # fmt: skip
                if resp.status_code == 202:
                    answer = resp.json()
                    tally[f"{kind}_accepted"] += answer["accepted"]
                    tally[f"{kind}_imported"] += sum(r.get("imported", 0) for r in answer["results"].values())
                    resp.success()
                else:
                    tally[f"{kind}_refused"] += len(body[kind])
                    resp.failure(f"{resp.status_code}")

        def _event(self, event_id: str) -> dict:
            at = started + timedelta(seconds=self.rng.randrange(30 * 86400))
            return {"source": source, "event_type": self.rng.choice(EVENT_TYPES), "event_id": event_id,
                    "occurred_at": at.isoformat(), "identifiers": {"phone": self._phone()},
                    "properties": {"page": f"/p/{self.rng.randrange(5000)}"}}  # fmt: skip

        def _order(self, order_id: str) -> dict:
            at = started + timedelta(seconds=self.rng.randrange(30 * 86400))
            amount = f"{self.rng.randrange(1000, 100000) / 100:.2f}"
            return {"source": source, "order_id": order_id, "phone": self._phone(), "order_time": at.isoformat(),
                    "amount": amount, "status": "交易成功",
                    "items": [{"product": "精华液", "quantity": 1, "amount": amount}]}  # fmt: skip

    customer_ids = args["customer_ids"]
    segment_ids = args["segment_ids"]
    analytics_pages = args["analytics_pages"]

    class Operator(FastHttpUser):
        weight = 1
        wait_time = between(*THINK_SECONDS)
        network_timeout = 120.0
        connection_timeout = 30.0

        def on_start(self):
            page = self.client.get("/login/", name="sign in (form)")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text or "")
            self.client.post(  # not followed to the home page: the operators browse the pages below
                "/login/",
                data={"username": args["username"], "password": args["password"], "next": "/customers/",
                      "csrfmiddlewaretoken": token.group(1) if token else ""},  # fmt: skip
                name="sign in",
                allow_redirects=False,
            )
            signed_in.append(1)  # failed or not: the window waits for every attempt, not for success

        @task(3)
        def customer_list(self):
            self.client.get(f"/customers/?page={random.randint(1, LIST_PAGES)}", name="customer list")

        @task(2)
        def search(self):
            self.client.get(f"/customers/?q={random.randrange(10000):04d}", name="customer search (phone tail)")

        @task(3)
        def profile(self):
            self.client.get(f"/customers/{random.choice(customer_ids)}/", name="customer profile")

        @task(1)
        def segments(self):
            self.client.get("/segments/", name="segments")

        @task(1)
        def segment(self):
            if segment_ids:
                self.client.get(f"/segments/{random.choice(segment_ids)}/", name="segment")

        @task(3)
        def analytics(self):
            page = random.choice(analytics_pages)
            self.client.get(f"/analytics/{page}/", name=f"analytics {page}")

    warm = _warm_up(host, args, analytics_pages, customer_ids, segment_ids) if args.get("warm_up", True) else {}

    user_classes = [c for c, n in ((ApiClient, args["api_users"]), (Operator, args["users"])) if n]
    # at the end every user finishes the request it is in (stop_timeout), so that no batch is cut off
    # between landing in the warehouse and its answer: accepted then means answered 202
    env = Environment(user_classes=user_classes, host=host, events=events, stop_timeout=STOP_TIMEOUT)
    runner = env.create_local_runner()
    total = int(args["api_users"]) + int(args["users"])
    runner.start(total, spawn_rate=max(1.0, total / max(1.0, float(args.get("ramp_seconds", 5)))))
    # the measured window starts once every operator has signed in (a password hash costs the server
    # a few hundred CPU milliseconds per sign-in, once per session; the sign-ins are reported apart)
    deadline = time.monotonic() + SIGN_IN_SECONDS
    while (len(signed_in) < int(args["users"]) or runner.user_count < total) and time.monotonic() < deadline:
        sleep(0.2)
    sleep(2.0)
    sign_ins = {e.name: _entry(e, 1.0) for e in env.stats.entries.values() if e.name.startswith("sign in")}
    env.stats.reset_all()
    statuses.clear()
    before = dict(tally)
    server = psutil.Process(int(args["server_pid"])) if args.get("server_pid") else None
    cpu_before = sum(server.cpu_times()[:2]) if server else 0.0
    t0 = time.perf_counter()
    spawn_later(float(args["duration"]), runner.quit)
    runner.greenlet.join()
    seconds = time.perf_counter() - t0
    cpu = round(sum(server.cpu_times()[:2]) - cpu_before, 1) if server else None

    pages = {e.name: _entry(e, seconds) for e in sorted(env.stats.entries.values(), key=lambda e: e.name)
             if e.num_requests}  # fmt: skip
    in_window = {k: v - before.get(k, 0) for k, v in tally.items()}
    return {"seconds": round(seconds, 1), "pages": pages, "statuses": dict(statuses), "tally": dict(tally),
            "in_window": in_window, "sign_ins": sign_ins, "warm_up_ms": warm, "server_cpu_seconds": cpu,
            "requests": sum(p["requests"] for p in pages.values())}  # fmt: skip


def _entry(entry, seconds: float) -> dict:
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "per_s": round(entry.num_requests / seconds, 2),
        "p50_ms": entry.get_response_time_percentile(0.5),
        "p95_ms": entry.get_response_time_percentile(0.95),
        "p99_ms": entry.get_response_time_percentile(0.99),
        "max_ms": round(entry.max_response_time or 0),
    }


def _warm_up(host: str, args: dict, analytics_pages, customer_ids, segment_ids) -> dict:
    """One operator alone opens each page once before the load (the first visit after the server started:
    cold caches), timed; what the operators then measure is the server in use."""
    import psutil
    import requests

    session = requests.Session()
    page = session.get(f"{host}/login/", timeout=600)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    session.post(f"{host}/login/", data={"username": args["username"], "password": args["password"],
                 "csrfmiddlewaretoken": token.group(1) if token else ""}, allow_redirects=False, timeout=600)  # fmt: skip
    paths = {"customer list": "/customers/", "customer search (phone tail)": "/customers/?q=5678",
             "customer profile": f"/customers/{customer_ids[0]}/", "segments": "/segments/"}  # fmt: skip
    if segment_ids:
        paths["segment"] = f"/segments/{segment_ids[0]}/"
    paths.update({f"analytics {p}": f"/analytics/{p}/" for p in analytics_pages})
    server = psutil.Process(int(args["server_pid"])) if args.get("server_pid") else None

    def get(path) -> tuple[int, int | None, int]:
        cpu = sum(server.cpu_times()[:2]) if server else 0.0
        started = time.perf_counter()
        answer = session.get(f"{host}{path}", timeout=600)
        wall = round((time.perf_counter() - started) * 1000)
        # the server's CPU time for this request alone (its worker thread may add some): steadier than the
        # wall time on a machine others use too
        return wall, round((sum(server.cpu_times()[:2]) - cpu) * 1000) if server else None, answer.status_code

    timed = {}
    for name, path in paths.items():
        ms, cpu_ms, status = get(path)
        again_ms, again_cpu_ms, _ = get(path)
        timed[name] = {"ms": ms, "cpu_ms": cpu_ms, "again_ms": again_ms, "again_cpu_ms": again_cpu_ms,
                       "status": status}  # fmt: skip
    return timed


if __name__ == "__main__":
    result = run(json.loads(sys.stdin.read()))
    print(json.dumps(result))
