from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "siyu.identity"
    label = "identity"

    def ready(self):
        from siyu.identity.actions import erase_person_values, person_values_left
        from siyu.identity.queries import person_merges
        from siyu.privacy.erasure import register_person_eraser
        from siyu.privacy.registry import PersonData, register

        # the person's copy of their data (PIPL art. 45) lists the merges that made their customer
        register(PersonData("merges", "身份合并记录", person_merges, {
            "merged_at": "合并时间", "survivor_id": "保留的客户编号", "absorbed_id": "并入的客户编号", "rule": "合并依据",
            "evidence": "证据", "run_id": "识别批次"}, order=60))  # fmt: skip
        # erasure (PIPL art. 47): the stored model's term-frequency tables count the person's values
        register_person_eraser("identity_model", "身份识别模型（姓名、昵称等取值频率表）", erase_person_values,
                               person_values_left, reads_records=True)  # fmt: skip
