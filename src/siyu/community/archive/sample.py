"""A synthetic chat-archive export for the demo brand (and the console's tests): 1-on-1 chats between guides
and their WeCom customers with replies after realistic delays (some never answered), group chats where a
few members talk and most stay silent, a recall, and a few messages that sensitive-word rules catch. The
lines have the shape WeCom's archive SDK emits after decryption (lines.py), so the demo imports them through
`import_chat_archive` like a real export."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

CUSTOMER_LINES = ("你好，请问现在有什么活动吗", "上次买的精华用完了，还有货吗", "可以帮我查一下订单吗", "周末门店几点关门？",
                  "这个颜色适合我吗", "会员积分怎么用", "谢谢，收到了")  # fmt: skip
GUIDE_LINES = ("您好，本周会员日全场8折", "有的，给您留一瓶", "好的，我帮您查一下", "周末晚上十点关门",
               "很适合您的肤色", "积分可以在小程序商城兑换")  # fmt: skip
GROUP_LINES = ("今天的福利是什么", "已下单", "好用！回购了", "请问快递几天到", "签到")
# what the demo's sensitive-word rules catch (siyu.community.archive.sample.SAMPLE_RULES)
FLAGGED_LINES = ("加我微信 VX123456 私下更便宜", "刷单兼职，日结300，有意私聊")
SAMPLE_RULES = (
    {"name": "私下引流", "kind": "regex", "pattern": r"加.{0,3}(微信|VX)", "group_types": ["all"], "one_on_one": True},
    {"name": "刷单兼职", "kind": "keyword", "pattern": "刷单", "group_types": ["all"], "one_on_one": False},
)


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def archive_sample_lines(contacts: dict[str, list[str]], rooms: dict[str, list[str]], start: dt.datetime,
                         days: int = 14, seed: int = 7) -> Iterator[str]:  # fmt: skip
    """JSON lines: `contacts` {staff userid: [their customers' external_userids]}, `rooms` {chat id:
    [members: the owner (a staff userid) first, then customers]}; messages over `days` days from `start`."""
    rng = random.Random(seed)
    counter = 0

    def line(sender, to, at, room="", text=None, action="send", **body) -> str:
        nonlocal counter
        counter += 1
        item = {"msgid": f"demo{counter:07d}", "action": action, "from": sender, "tolist": to, "roomid": room,
                "msgtime": _ms(at), "seq": counter}  # fmt: skip
        if text is not None:
            item.update(msgtype="text", text={"content": text})
        else:
            item.update(body)
        return json.dumps(item, ensure_ascii=False)

    for staff, customers in sorted(contacts.items()):
        for customer in customers:
            at = start + dt.timedelta(minutes=rng.randrange(0, days * 24 * 60 - 600))
            for _ in range(rng.randrange(1, 4)):
                yield line(customer, [staff], at, text=rng.choice(CUSTOMER_LINES))
                if rng.random() < 0.85:  # most questions are answered, after 1 minute to 5 hours
                    at += dt.timedelta(seconds=rng.choice((60, 180, 600, 1800, 3600, 18000)))
                    yield line(staff, [customer], at, text=rng.choice(GUIDE_LINES))
                at += dt.timedelta(hours=rng.randrange(2, 48))
    for index, (room, members) in enumerate(sorted(rooms.items())):
        owner, customers = members[0], members[1:]
        talkers = customers[: max(len(customers) // 4, 1)]  # most members stay silent
        at = start + dt.timedelta(hours=9)
        while at < start + dt.timedelta(days=days):
            yield line(owner, [m for m in members if m != owner], at, room, text="欢迎大家，今日福利已上架")
            for speaker in rng.sample(talkers, k=min(len(talkers), rng.randrange(0, 4))):
                at += dt.timedelta(minutes=rng.randrange(1, 30))
                yield line(speaker, [m for m in members if m != speaker], at, room, text=rng.choice(GROUP_LINES))
            at += dt.timedelta(days=1)
        if talkers:
            flagged_at = start + dt.timedelta(days=min(index + 1, days - 1), hours=20)
            yield line(talkers[0], [m for m in members if m != talkers[0]], flagged_at, room,
                       text=FLAGGED_LINES[index % len(FLAGGED_LINES)])  # fmt: skip
            counter_at = flagged_at + dt.timedelta(minutes=1)
            yield line(talkers[0], [m for m in members if m != talkers[0]], counter_at, room, action="recall", msgtype="revoke",
                       revoke={"pre_msgid": f"demo{counter:07d}"})  # fmt: skip


def write_archive_sample(path, contacts: dict[str, list[str]], rooms: dict[str, list[str]], start: dt.datetime,
                         days: int = 14, seed: int = 7) -> Path:  # fmt: skip
    """Write archive_sample_lines to `path` (one message per line); the demo then imports it with
    siyu.community.archive.actions.import_chat_archive and saves SAMPLE_RULES with save_rule."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as out:
        for text in archive_sample_lines(contacts, rooms, start, days, seed):
            out.write(text + "\n")
    return path
