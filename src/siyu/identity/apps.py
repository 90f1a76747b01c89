from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "siyu.identity"
    label = "identity"

    def ready(self):
        from siyu.identity.queries import person_merges
        from siyu.privacy.registry import PersonData, register
        from siyu.privacy.registry import copy_word as _w

        # the person's copy of their data (PIPL art. 45) lists the merges that made their customer
        register(PersonData("merges", _w("Identity merges"), person_merges, {
            "merged_at": _w("Merged at"), "survivor_id": _w("Customer ID kept"),
            "absorbed_id": _w("Customer ID merged in"), "rule": _w("Merged because"), "evidence": _w("Evidence"),
            "run_id": _w("Resolution run")}, order=60))  # fmt: skip
