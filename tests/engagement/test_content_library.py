"""The content library: scripts, materials, search, and buyer shows usable only with consent."""

from __future__ import annotations

import datetime as dt

import pytest
from guides_helpers import NOON

from siyu.core.errors import PermissionDenied
from siyu.customers.actions import record_consent
from siyu.engagement.content.actions import save_material, save_script
from siyu.engagement.content.queries import check_usable, search_materials, search_scripts
from siyu.engagement.errors import ConsentMissing, ContentError
from siyu.engagement.guides.actions import create_guide_tasks
from siyu.engagement.guides.models import GuideTask
from siyu.engagement.guides.queries import list_tasks

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_scripts_in_groups_are_searchable_by_title_body_tags_and_group(shoppers):
    ops = shoppers["ops"]
    save_script(ops, title="生日祝福", body="{name}生日快乐", group="节日", tags="生日，关怀")
    save_script(ops, title="新品上市", body="{product}到店了", group="上新", tags="新品")
    assert [s.title for s in search_scripts("关怀")] == ["生日祝福"]
    assert [s.title for s in search_scripts("上新 到店")] == ["新品上市"]
    assert [s.title for s in search_scripts("快乐")] == ["生日祝福"]
    assert search_scripts("不存在") == []
    with pytest.raises(PermissionDenied):
        save_script(shoppers["g1"], title="x", body="y")
    with pytest.raises(ContentError):
        save_script(ops, title="", body="y")


def test_materials_are_checked_by_kind(shoppers, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path
    ops = shoppers["ops"]
    image = save_material(ops, kind="image", title="新品海报", image=PNG, tags="海报")
    assert (tmp_path / "materials" / image.image).read_bytes() == PNG
    with pytest.raises(ContentError, match="not a PNG"):
        save_material(ops, kind="image", title="坏图", image=b"<svg onload=alert(1)>")
    with pytest.raises(ContentError, match="http"):
        save_material(ops, kind="link", title="活动页", url="javascript:alert(1)")
    save_material(ops, kind="link", title="活动页", url="https://example.com/event")
    with pytest.raises(ContentError, match="appid"):
        save_material(ops, kind="mini_program", title="商城", appid="abc", page_path="pages/index")
    card = save_material(ops, kind="mini_program", title="商城首页", appid="wx0123456789abcdef",
                         page_path="pages/index/index?from=guide", image=PNG)  # fmt: skip
    assert card.image.endswith(".png")
    save_material(ops, kind="case", title="敏感肌改善案例", body="连续使用四周后……", tags="案例")
    assert [m.title for m in search_materials("四周")] == ["敏感肌改善案例"]
    assert [m.title for m in search_materials(kind="mini_program")] == ["商城首页"]


def test_buyer_shows_need_the_customers_consent_at_every_use(shoppers):
    ops = shoppers["ops"]
    with pytest.raises(ConsentMissing):
        save_material(ops, kind="ugc", title="张女士的买家秀", body="很好用", customer_id=1)
    record_consent(None, 1, "ugc", "opt_in", "评价页勾选授权", at=NOON - dt.timedelta(days=1))
    show = save_material(ops, kind="ugc", title="张女士的买家秀", body="很好用", customer_id=1)
    check_usable(show)
    assert [m.pk for m in search_materials(usable_only=True)] == [show.pk]
    script = save_script(ops, title="种草", body="{name}，看看别人的使用感受")
    batch = create_guide_tasks(ops, script=script, due_at=NOON + dt.timedelta(days=2), customer_ids=[2],
                               material=show, now=NOON)  # fmt: skip
    assert list_tasks(shoppers["g1"])["items"][0]["material"]["usable"] is True
    # the customer withdraws: the show disappears from what guides see, tasks withhold it, no new use
    record_consent(None, 1, "ugc", "opt_out", "客服来电撤回")
    assert search_materials(usable_only=True) == []
    assert search_materials()[0].usable is False  # editors still see it, marked unusable
    with pytest.raises(ConsentMissing):
        check_usable(show)
    shown = list_tasks(shoppers["g1"])["items"][0]["material"]
    assert shown["usable"] is False and "body" not in shown and "title" not in shown
    with pytest.raises(ConsentMissing):
        create_guide_tasks(ops, script=script, due_at=NOON + dt.timedelta(days=2), customer_ids=[2],
                           material=show, now=NOON)  # fmt: skip
    assert GuideTask.objects.filter(batch=batch).count() == 1


def test_an_opt_out_of_everything_also_withdraws_the_buyer_show_consent(shoppers):
    record_consent(None, 3, "ugc", "opt_in", "授权书", at=NOON - dt.timedelta(days=2))
    show = save_material(shoppers["ops"], kind="ugc", title="王*的买家秀", body="不错", customer_id=3)
    record_consent(None, 3, "all", "opt_out", "要求删除")
    with pytest.raises(ConsentMissing):
        check_usable(show)
