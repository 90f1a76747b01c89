from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "siyu.identity"
    label = "identity"

    def ready(self):
        from siyu.identity.actions import erase_person_values, person_values_left
        from siyu.identity.queries import person_merges
        from siyu.privacy.erasure import register_person_eraser
        from siyu.privacy.registry import PersonData, register
        from siyu.privacy.registry import copy_word as _w

        # the person's copy of their data (PIPL art. 45) lists the merges that made their customer
        register(PersonData("merges", _w("Identity merges"), person_merges, {
            "merged_at": _w("Merged at"), "survivor_id": _w("Customer ID kept"),
            "absorbed_id": _w("Customer ID merged in"), "rule": _w("Merged because"), "evidence": _w("Evidence"),
            "run_id": _w("Resolution run")}, order=60))  # fmt: skip
        # erasure (PIPL art. 47): the stored model's term-frequency tables count the person's values
        register_person_eraser("identity_model", "身份识别模型（姓名、昵称等取值频率表）", erase_person_values,
                               person_values_left, reads_records=True)  # fmt: skip
