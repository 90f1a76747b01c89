from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "siyu.privacy"
    label = "privacy"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.ingest.suppression import register_suppression
        from siyu.privacy import erasure
        from siyu.privacy.sections import register_sections

        # what the domains below privacy hold about a person; the domains above register theirs
        register_sections()
        register_job(erasure.JOB_KIND, erasure.run_erasure_job)
        erasure.register_own_erasers()
        # imports drop the rows of erased people (the list is privacy's; ingest sits below it)
        register_suppression(erasure.suppressed_hashes, erasure.any_suppressed)
