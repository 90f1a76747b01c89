"""Store codes (one per store, with the store's guides) and a guide's personal code."""

from __future__ import annotations

import pytest
from django.utils import translation

from siyu.acquisition import actions, labels
from siyu.acquisition.errors import AcquisitionError
from siyu.acquisition.models import LiveCode
from siyu.staff.actions import create_user, ensure_store

pytestmark = pytest.mark.django_db


def test_one_code_per_store_with_its_guides_kept_up_to_date(warehouse, account, fake, team):
    empty = ensure_store("BJ01", "北京三里屯店")
    report = actions.create_store_codes(team["ops"], [team["sh"], empty])
    (code,) = LiveCode.objects.all()
    assert report == {"created": [code.pk], "updated": [], "skipped": {"BJ01": "no staff of the store has a WeCom userid"}}
    assert (code.kind, code.store, code.channel, code.name) == ("store", team["sh"], "store", "上海南京西路店")
    assert fake.contact_ways[code.config_id]["user"] == ["guide1", "guide2"]  # 小赵 has no WeCom userid
    fake.members.add("guide3")
    create_user("g3", "pw-g3-1", "guide", store=team["sh"], display_name="小陈", wecom_userid="guide3")
    again = actions.create_store_codes(team["ops"], [team["sh"]])
    assert again["updated"] == [code.pk] and LiveCode.objects.count() == 1
    assert fake.contact_ways[code.config_id]["user"] == ["guide1", "guide2", "guide3"]


def test_a_guide_gets_one_personal_single_person_code(warehouse, account, fake, team):
    mine = actions.guide_code(team["g1"])
    assert actions.guide_code(team["g1"]) == mine and LiveCode.objects.count() == 1
    way = fake.contact_ways[mine.config_id]
    assert (way["type"], way["user"], mine.kind, mine.name) == (1, ["guide1"], "guide", "小王")
    with pytest.raises(AcquisitionError, match="WeCom userid"):
        actions.guide_code(team["g4"])
    with pytest.raises(actions.PermissionDenied):
        actions.guide_code(team["g1"], actor=team["g2"])  # another guide may not make it


def test_every_acquisition_label_has_its_chinese_words():
    with translation.override("zh-hans"):
        for table in (labels.CHANNELS, labels.KINDS, labels.STATUSES, labels.WELCOME_OUTCOMES, labels.AVAILABILITY):
            for code, words in table.items():
                assert not str(words).isascii(), (code, str(words))
