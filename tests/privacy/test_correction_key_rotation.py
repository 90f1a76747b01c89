"""`siyu keys rotate` re-encrypts the profile corrections (a corrected phone, e-mail, name…: PII kept
encrypted in siyu.customers.models.ProfileCorrection) with the rest: after rotation the old key can be
retired and the corrected profile still reads, the corrected phone still finds the customer."""

from __future__ import annotations

import pytest

from siyu.core import keyfiles, pii, rotation
from siyu.customers import queries as customer_queries
from siyu.customers.actions import correct_profile
from siyu.customers.models import ProfileCorrection
from siyu.engagement.messaging.channel_actions import customers_with_phone
from siyu.privacy.archive import person_sections

pytestmark = pytest.mark.django_db

STORE = "customers.ProfileCorrection value"


def test_a_correction_written_under_the_old_key_reads_after_rotation_without_it(
    ring_file, settings, tmp_path, people
):
    # rotation walks every store: this test's own uploads and warehouse (the `warehouse` fixture), not files
    # other tests sealed under the session's key (this ring's key 0 is another one)
    settings.UPLOADS_DIR = tmp_path / "uploads"
    cid = people["one"]
    correct_profile(
        people["admin"], cid, {"phone": "13700137007", "email": "new@example.com"}, reason="来电更正"
    )
    assert rotation.key_status()["stores"][STORE] == {"0": 2}

    assert rotation.add_key() == 1
    report = rotation.reencrypt_all()
    assert report["stores"][STORE] == 2
    assert rotation.key_status()["stores"][STORE] == {"1": 2}
    values = ProfileCorrection.objects.filter(customer_id=cid).values_list("value", flat=True)
    assert {pii.key_id_of(bytes(v)) for v in values} == {1}

    assert rotation.retire_key(0) == {"retired": 0, "keys": [1]}  # nothing is left under key 0
    assert keyfiles.read_ring(settings.PII_KEY_SOURCE, "PII_KEY").keys() == {1}
    profile = customer_queries.own_profile(cid)
    assert (profile["phone"], profile["email"]) == ("13700137007", "new@example.com")
    assert customers_with_phone("13700137007")[0][0] == cid  # the corrected phone still finds her
    # the copy decrypts every correction: it builds without key 0
    copied = {
        row["Corrected value"]
        for row in next(s[3] for s in person_sections(cid, "en") if s[0] == "corrections")
    }
    assert copied == {"+8613700137007", "new@example.com"}  # the phone as stored (normalised)
