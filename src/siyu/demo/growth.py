"""The demo brand grows its pool: live codes with adds and deletes, stores' customer groups with joins,
leaves and silent members, a chat-archive sample with sensitive-word alerts, and a resigned guide's handover,
so every acquisition and community page has data on first start.

Everything goes through the product's own actions against the fake WeCom (siyu.engagement.messaging.fakes
.wecom), started in this process for the time of the generation: the brand's WeCom account is configured
against it, callbacks are fed as the callback view feeds them (record the event, then the handlers), and at the
end the fake stops and the account is left disabled, so the running server never calls a dead address.

Two phases, because a WeCom contact export and the add-contact callback give the same `wecom_contact_added`
event key (the export's event must not come first, or the callback's event with the code's `state` is taken
for a duplicate — as in real life, callbacks arrive as people add and an export is taken later):

1. `DemoWeCom.grow_codes()` — before the WeCom export is imported: codes, adds through them over the 90 days
   before the demo's "today" (a share of the export's contacts added in those days, and new people), and
   deletes within 1, 7 or 30 days.
2. `DemoWeCom.grow_community()` — after the resolve: groups, the group sync, leaves as WeCom's callbacks
   (dated when they happened), group codes, the chat archive and the handover.

Deterministic for a seed: every choice comes from one seeded generator and every time from the demo's
fixed "today"."""

from __future__ import annotations

import datetime as dt
import re
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from python_calamine import CalamineWorkbook

from siyu.acquisition.actions import create_live_code, create_store_codes, follow_code_add
from siyu.acquisition.models import LiveCode, LiveCodeAdd
from siyu.acquisition.tasks import follow_code_add as follow_code_add_task
from siyu.community.archive.actions import import_chat_archive, save_rule
from siyu.community.archive.models import SensitiveRule
from siyu.community.archive.sample import SAMPLE_RULES, write_archive_sample
from siyu.community.groups.actions import create_group_code, sync_groups, update_group
from siyu.community.groups.models import CustomerGroup, GroupType
from siyu.community.handover.actions import check_handover_results, start_resigned_handover
from siyu.core.tasks import can_defer, cancel_waiting_runs
from siyu.engagement.messaging import queries as messaging_queries
from siyu.engagement.messaging.actions import configure_account, record_wecom_events
from siyu.engagement.messaging.callbacks import handle_wecom_event
from siyu.engagement.messaging.channel_actions import send_welcome_message
from siyu.engagement.messaging.channels.wecom import WeComClient, parse_callback_event
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import Channel
from siyu.staff.models import StaffProfile, Store

DAY = 86_400
WINDOW_DAYS = 90
CODE_ADD_SHARE = 0.5  # of the export's contacts added in the 90 days, the share who came through a code
ADDS_PER_PERSON = 0.008  # known contacts added through a code, per person of the brand (at most)
NEW_PEOPLE_SHARE = 0.5  # new people (not in the export) per code add of a known contact
DELETER_SHARE = 0.6  # of the new people, those who delete (or are deleted) within 30 days
DELETE_WITHIN = ((1, 0.4), (7, 0.35), (30, 0.25))  # (days, share of the deletes)
CUSTOMER_DELETES = 0.8  # the customer deleted the guide (删人); else the guide deleted the customer
GROUP_MAX_JOINS = 180  # WeCom lets at most 200 in by QR code
LEAVE_SHARE = 0.1
EARLY_LEAVE_SHARE = 0.45  # of those who leave, within 7 days of joining
ARCHIVE_GUIDES = 8
ARCHIVE_CUSTOMERS = 6
CORP_ID = "ww-demo-brand"
NICKNAMES = ("小雨", "阿杰", "Lily", "晴天", "木子", "橙子", "安安", "大熊", "小鹿", "Coco", "一一", "可乐")
WELCOME = "您好，欢迎加入{name}！回复“福利”领取新人礼券，有任何护肤问题随时问我～"
CAMPAIGN_CODES = (
    # (name, channel, campaign, cost in yuan, staff picked, welcome)
    ("双十一包裹卡", LiveCode.Channel.PACKAGE_CARD, "双十一包裹卡", "1200", "online",
     "感谢您的购买！添加专属顾问即可领取5元无门槛券。"),
    ("门店小票二维码", LiveCode.Channel.RECEIPT, "小票加粉", "300", "first_of_stores",
     "您好，扫码小票加我，下次到店出示即享会员价。"),
    ("秋冬新品海报", LiveCode.Channel.POSTER, "秋冬新品", "800", "poster",
     "欢迎了解秋冬新品，回复“试用”预约到店体验。"),
    ("直播间抽奖", LiveCode.Channel.ONLINE_EVENT, "直播抽奖", "2000", "online",
     "恭喜参与直播抽奖，中奖名单会在这里通知您。"),
)  # fmt: skip
GROUP_KINDS = (
    # (type, name pattern, share of the store's contacts invited)
    (GroupType.VIP, "{store}会员群", 0.25),
    (GroupType.PRODUCT, "{store}新品体验群", 0.2),
    (GroupType.CITY, "{city}同城福利群", 0.15),
)


@dataclass
class Contact:
    external_userid: str
    unionid: str
    staff: str
    name: str
    added: int  # epoch seconds


@dataclass
class GrowthReport:
    codes: int = 0
    adds: int = 0
    new_people: int = 0
    deletes: int = 0
    groups: int = 0
    joins: int = 0
    leaves: int = 0
    early_leaves: int = 0
    group_codes: int = 0
    messages: int = 0
    alerts: int = 0
    handover_customers: int = 0
    handover_groups: int = 0
    seconds: dict = field(default_factory=dict)


def demo_today(as_of: str) -> int:
    """Epoch seconds of the end of the demo's "today" in the demo's time zone (never later than now)."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    end = dt.datetime.combine(dt.date.fromisoformat(as_of) + dt.timedelta(days=1), dt.time(), zone)
    return min(int(end.timestamp()), int(time.time()) - 60)


def read_wecom_contacts(paths: list[Path]) -> list[Contact]:
    """The relations of the demo's WeCom contact export (first relation of each contact), as WeCom has them."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    seen: dict[str, Contact] = {}
    for path in paths:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header = [str(h) for h in rows[0]]
        at = {name: header.index(name) for name in ("external_userid", "unionid", "添加人账号", "客户名称", "添加时间")}
        for row in rows[1:]:
            ext = str(row[at["external_userid"]] or "").strip()
            if not ext or ext in seen:
                continue
            added = dt.datetime.strptime(str(row[at["添加时间"]]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
            seen[ext] = Contact(ext, str(row[at["unionid"]] or ""), str(row[at["添加人账号"]] or ""),
                                str(row[at["客户名称"]] or ""), int(added.timestamp()))  # fmt: skip
    return list(seen.values())


def _dated(xml: str, at: int) -> str:
    """A callback as WeCom would have pushed it at `at` (the fake dates what it makes now)."""
    return re.sub(r"<CreateTime>\d+</CreateTime>", f"<CreateTime>{at}</CreateTime>", xml, count=1)


class DemoWeCom:
    """The fake WeCom in this process, with the demo's guides and contacts, and the brand's account on it."""

    def __init__(self, admin, contacts: list[Contact], seed: int, today: int, people: int):
        self.admin, self.seed, self.today, self.people = admin, seed, today, people
        self.rng = np.random.default_rng([seed, 90])
        self.contacts = contacts
        self.report = GrowthReport()
        self.fake = FakeWeCom(corp_id=CORP_ID)
        self.account = None
        self.running = False
        self.code_added: list[Contact] = []
        self.deleted: set[str] = set()
        self.known = {c.external_userid: c for c in contacts}
        self.guides = {p.wecom_userid: p for p in StaffProfile.objects.exclude(wecom_userid="")
                       .select_related("store", "user").order_by("pk")}  # fmt: skip

    # --- the fake and the account ---------------------------------------------------------------------
    def start(self) -> None:
        start = self.today - WINDOW_DAYS * DAY
        recent = [c for c in self.contacts if c.added >= start and c.staff in self.guides]
        # a share of them, at most ADDS_PER_PERSON of the brand's people: each add costs the demo ~0.1 s
        share = min(CODE_ADD_SHARE, self.people * ADDS_PER_PERSON / max(len(recent), 1))
        chosen = self.rng.random(len(recent)) < share
        self.code_added = [c for c, pick in zip(recent, chosen, strict=True) if pick]
        later = {c.external_userid for c in self.code_added}
        WeComClient._tokens.clear()
        self.fake.start()
        self.running = True
        self.fake.members.update(self.guides)
        for c in self.contacts:  # what WeCom holds before the 90 days' adds
            if c.external_userid not in later:
                self.fake.add_contact(c.staff, c.external_userid, c.name, unionid=c.unionid, createtime=c.added)
        self.account = configure_account(self.admin, "wecom", "wecom", {"corp_id": CORP_ID, "base_url": self.fake.url},
                                         {"contact_secret": "contact-secret"})  # fmt: skip
        self.source = self.account.settings.get("source") or "wecom"

    def stop(self) -> None:
        """Stop the fake and leave the account disabled (the server must not call a fake that is gone)."""
        self.fake.stop()
        self.running = False
        WeComClient._tokens.clear()
        account = messaging_queries.account_of(Channel.WECOM)
        if account is not None:
            configure_account(self.admin, "wecom", "wecom", dict(account.settings), {}, enabled=False)

    def _feed(self, xml: str) -> dict | None:
        """What the callback view does with a decrypted callback: record the event, then the handlers."""
        event = parse_callback_event(xml)
        if event is None:
            return None
        record_wecom_events([event], source=self.source)
        handle_wecom_event(event, self.account)
        if event.get("welcome_code"):
            send_welcome_message(event, self.account)
        return event

    # --- phase 1: live codes, adds and deletes ----------------------------------------------------------
    def grow_codes(self) -> None:
        began = time.monotonic()
        stores = list(Store.objects.order_by("code"))
        create_store_codes(self.admin, stores, welcome_text=WELCOME.format(name="门店会员"))
        codes = self._campaign_codes(stores)
        store_codes = {c.store_id: c for c in LiveCode.objects.filter(kind=LiveCode.Kind.STORE)}
        self.report.codes = LiveCode.objects.count()
        adds = [(c, False) for c in self.code_added]
        for _ in range(int(round(len(self.code_added) * NEW_PEOPLE_SHARE))):
            ext = "wm" + "".join(self.rng.choice(list("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"), 30))
            added = self.today - WINDOW_DAYS * DAY + int(self.rng.integers(0, WINDOW_DAYS * DAY - 3600))
            union = "o" + "".join(self.rng.choice(list("abcdefghijkmnopqrstuvwxyz0123456789-_"), 27)) if (
                self.rng.random() < 0.7) else ""  # fmt: skip
            adds.append((Contact(ext, union, "", str(self.rng.choice(NICKNAMES)), added), True))
        self.known.update({c.external_userid: c for c, _ in adds})
        adds.sort(key=lambda pair: (pair[0].added, pair[0].external_userid))
        deletes: list[tuple[int, str, str, bool]] = []  # (at, staff, external_userid, by the customer)
        for contact, new in adds:
            guide = self.guides.get(contact.staff)
            own = store_codes.get(guide.store_id) if guide is not None else None
            code = own if own is not None and self.rng.random() < 0.6 else codes[int(self.rng.integers(len(codes)))]
            if new and self.rng.random() < 0.5:
                code = store_codes[stores[int(self.rng.integers(len(stores)))].pk] if store_codes else code
            users = self.fake.users_of(code.config_id)
            if contact.staff in users:  # WeCom offers the code's staff in turn: this contact met their guide
                self.fake._turns[code.config_id] = users.index(contact.staff)
            event = self._feed(self.fake.scan(code.config_id, contact.external_userid, contact.name,
                                              unionid=contact.unionid, created=contact.added))  # fmt: skip
            self.report.adds += 1
            self.report.new_people += new
            if new and self.rng.random() < DELETER_SHARE:
                days = [d for d, _ in DELETE_WITHIN][int(self.rng.choice(len(DELETE_WITHIN), p=[p for _, p in DELETE_WITHIN]))]
                at = contact.added + int(self.rng.integers(600, days * DAY))
                if at < self.today:
                    deletes.append((at, event["properties"]["staff"], contact.external_userid,
                                    bool(self.rng.random() < CUSTOMER_DELETES)))  # fmt: skip
        for at, staff, ext, by_customer in sorted(deletes):
            self._feed(self.fake.remove_contact(staff, ext, by_customer=by_customer, at=at))
            self.deleted.add(ext)
            self.report.deletes += 1
        self._follow_adds()
        self.report.seconds["codes"] = round(time.monotonic() - began, 1)

    def _campaign_codes(self, stores: list[Store]) -> list[LiveCode]:
        online = [p for p in self.guides.values() if p.store_id is None]
        in_store = [p for p in self.guides.values() if p.store_id is not None]
        first = {}
        for p in in_store:
            first.setdefault(p.store_id, p)
        picks = {
            "online": online or in_store[:3],
            "first_of_stores": list(first.values())[:6],
            "poster": in_store[1::7][:4],
        }
        # store hours: only the poster code's staff keep them (routing reads the clock; the others take adds
        # at any hour, so which guide an add reaches does not depend on when the demo runs)
        hours = {**{str(d): [["09:00", "21:00"]] for d in range(1, 6)}, "6": [["10:00", "22:00"]],
                 "7": [["10:00", "22:00"]]}  # fmt: skip
        out = []
        for name, channel, campaign, cost, pick, welcome in CAMPAIGN_CODES:
            chosen = picks[pick]
            schedule = hours if pick == "poster" else {}
            staff = [{"staff": p, "daily_limit": 80, "schedule": schedule} for p in chosen[:-1]]
            staff.append({"staff": chosen[-1], "backup": True})  # takes the adds when the others are at their limit
            if len(chosen) == 1:
                staff = [{"staff": chosen[0], "daily_limit": 80}]
            out.append(create_live_code(self.admin, name=name, staff=staff, channel=channel, campaign=campaign,
                                        cost=cost, welcome_text=welcome))  # fmt: skip
        return out

    def _follow_adds(self) -> None:
        """What follows each add (its auto tags, the contact read from WeCom and landed, routing) is a task
        for the server's worker: run it now, while the fake is up, and take the queued runs out (the
        immediate backend of tests ran them already). Only new people's: the WeCom export, imported next,
        lands the others' contacts (as the follow would, at a tenth of a second each). The resolve the landed
        contacts ask for is the one after the WeCom export."""
        if not can_defer():
            return
        known = {c.external_userid for c in self.contacts}
        for add_id, ext in LiveCodeAdd.objects.order_by("pk").values_list("pk", "external_userid"):
            if ext not in known:
                follow_code_add(add_id)
        cancel_waiting_runs(follow_code_add_task)

    # --- phase 2: groups, the chat archive and a handover ----------------------------------------------
    def grow_community(self, out_dir: Path) -> None:
        began = time.monotonic()
        stays = self._make_groups()
        synced = sync_groups(now=dt.datetime.fromtimestamp(self.today - 3600, dt.UTC))
        self.report.groups = synced["groups"]
        self._type_groups()
        self._leave(stays)
        self._group_codes()
        self.report.seconds["groups"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        self._archive(out_dir)
        self.report.seconds["archive"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        self._handover()
        self.report.seconds["handover"] = round(time.monotonic() - began, 1)

    def _current(self) -> dict[str, list[Contact]]:
        """Each guide's contacts WeCom holds now (a customer who deleted the guide is not one)."""
        by_staff: dict[str, list[Contact]] = {}
        for staff, exts in sorted(self.fake.contacts.items()):
            for ext in exts:
                c = self.known.get(ext)
                detail = self.fake.details.get(ext, {}).get("external_contact", {})
                by_staff.setdefault(staff, []).append(c or Contact(ext, detail.get("unionid", ""), staff,
                                                                   detail.get("name", ""), self.today - DAY))  # fmt: skip
        return by_staff

    def _make_groups(self) -> list[tuple[str, str, int, int]]:
        """Per store a welfare group and a few others, owned by the store's guides; two near-duplicates.
        Returns the stays that end later: (chat_id, member, joined, left)."""
        start = self.today - WINDOW_DAYS * DAY
        by_staff = self._current()
        leaving: list[tuple[str, str, int, int]] = []
        self.group_kinds: dict[str, tuple[str, list[str]]] = {}
        stores = list(Store.objects.order_by("code"))
        for index, store in enumerate(stores):
            guides = [p for p in self.guides.values() if p.store_id == store.pk]
            if not guides:
                continue
            pool = sorted({c.external_userid: c for g in guides for c in by_staff.get(g.wecom_userid, [])}.values(),
                          key=lambda c: c.external_userid)  # fmt: skip
            kinds = [(GroupType.WELFARE, "{store}福利群", 0.6)]
            kinds += list(GROUP_KINDS[: 1 + index % len(GROUP_KINDS)])
            for number, (kind, pattern, share) in enumerate(kinds):
                owner = guides[number % len(guides)]
                name = pattern.format(store=store.name.removesuffix("店"), city=store.city.removesuffix("市"))
                members = [c for c in pool if self.rng.random() < share][:GROUP_MAX_JOINS]
                chat_id = self._group(owner.wecom_userid, name, members, start, leaving)
                self.group_kinds[chat_id] = (kind, [store.name])
                if kind == GroupType.WELFARE and index < 2:  # a second welfare group with most of the same people
                    twin = [c for c in members if self.rng.random() < 0.85]
                    twin_id = self._group(owner.wecom_userid, name.replace("福利群", "福利2群"), twin, start, leaving)
                    self.group_kinds[twin_id] = (kind, [store.name])
        return leaving

    def _group(self, owner: str, name: str, members: list[Contact], start: int, leaving: list) -> str:
        created = start - int(self.rng.integers(DAY, 30 * DAY))
        # chat ids of the brand's own (the fake numbers groups per process)
        chat_id = self.fake.make_group(owner, name, chat_id=f"wrDemo{self.seed:03d}{len(self.fake.groups) + 1:05d}",
                                       create_time=created)  # fmt: skip
        for c in members:
            joined = max(created, c.added, start) + int(self.rng.integers(0, max(DAY, self.today - max(c.added, start) - DAY)))
            joined = min(joined, self.today - 2 * 3600)
            scene = int(self.rng.choice([1, 2, 3], p=[0.2, 0.15, 0.65]))
            self.fake.add_group_member(chat_id, c.external_userid, unionid=c.unionid, join_scene=scene,
                                       join_time=joined, name=c.name)  # fmt: skip
            self.report.joins += 1
            if self.rng.random() < LEAVE_SHARE:
                early = self.rng.random() < EARLY_LEAVE_SHARE
                left = joined + int(self.rng.integers(600, 7 * DAY if early else 40 * DAY))
                if left < self.today - 3600:
                    leaving.append((chat_id, c.external_userid, joined, left))
        return chat_id

    def _type_groups(self) -> None:
        for group in CustomerGroup.objects.filter(chat_id__in=list(self.group_kinds)).order_by("pk"):
            kind, tags = self.group_kinds[group.chat_id]
            update_group(self.admin, group, group_type=kind, tags=tags)

    def _leave(self, leaving: list[tuple[str, str, int, int]]) -> None:
        """Leaves after the first sync, as WeCom's change_external_chat callbacks dated when they happened."""
        for chat_id, member, joined, left in sorted(leaving, key=lambda s: (s[3], s[0], s[1])):
            quit_scene = 0 if self.rng.random() < 0.9 else 1
            self._feed(_dated(self.fake.remove_group_member(chat_id, member, quit_scene=quit_scene), left))
            self.report.leaves += 1
            self.report.early_leaves += left - joined <= 7 * DAY

    def _group_codes(self) -> None:
        welfare = list(CustomerGroup.objects.filter(group_type=GroupType.WELFARE).order_by("pk")[:2])
        for group in welfare:
            create_group_code(self.admin, f"{group.name}二维码", [group.pk], state=f"gc-demo-{group.pk}",
                              remark="门店收银台", group_type=GroupType.WELFARE,
                              room_base_name=group.name[:30], room_base_id=2)  # fmt: skip
            self.report.group_codes += 1

    def _archive(self, out_dir: Path) -> None:
        """Sensitive-word rules first (so the import raises alerts), then a sample export imported."""
        known = set(SensitiveRule.objects.values_list("name", flat=True))
        for rule in SAMPLE_RULES:
            if rule["name"] not in known:
                save_rule(self.admin, **rule)
        by_staff = self._current()
        guides = [g for g in sorted(by_staff) if g in self.guides and by_staff[g]][:ARCHIVE_GUIDES]
        contacts = {g: sorted(c.external_userid for c in by_staff[g])[:ARCHIVE_CUSTOMERS] for g in guides}
        rooms = {}
        for chat_id in sorted(self.group_kinds)[:12]:
            group = self.fake.groups[chat_id]
            members = sorted(m for m, item in group["members"].items() if item["type"] == 2)
            rooms[chat_id] = [group["owner"], *members]
        start = dt.datetime.fromtimestamp(self.today - 15 * DAY, dt.UTC)
        path = write_archive_sample(Path(out_dir) / "会话存档样例", contacts, rooms, start, seed=self.seed)
        report = import_chat_archive(path, self.admin)
        self.report.messages, self.report.alerts = report["imported"], report["alerts"]

    def _handover(self) -> None:
        """The last store's last guide resigned: their customers and groups go to a colleague; WeCom's
        outcome per customer (most accept, some refuse) read once — all settled, so the server's check has
        nothing left to ask the (then stopped) fake."""
        in_store = [p for p in self.guides.values() if p.store_id is not None]
        leaver = in_store[-1]
        colleague = next(p for p in in_store if p.store_id == leaver.store_id and p.pk != leaver.pk)
        self.fake.resign(leaver.wecom_userid, at=self.today - 2 * DAY)
        handover = start_resigned_handover(self.admin, leaver.wecom_userid, colleague.user)
        waiting = sorted(self.fake.takeovers)
        for n, ext in enumerate(waiting):
            self.fake.answer_transfer(ext, 3 if n % 10 == 3 else 1)  # one in ten refuses
        check_handover_results()
        self.report.handover_customers = handover.items.filter(kind="customer").count()
        self.report.handover_groups = handover.items.filter(kind="group").count()
