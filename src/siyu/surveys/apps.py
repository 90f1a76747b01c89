from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "siyu.surveys"
    label = "surveys"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.segments.queries import register_builder_words
        from siyu.surveys import mirror

        register_job("surveys_mirror", mirror.run_mirror_job)  # answers into the warehouse
        register_builder_words("surveys", mirror.builder_surveys)  # the segment builder's survey-answer condition
