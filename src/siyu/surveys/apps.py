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

        from siyu.privacy.registry import PersonData, register
        from siyu.privacy.registry import copy_word as _w
        from siyu.surveys.queries import person_answers

        # the person's copy of their data (PIPL art. 45)
        register(PersonData("survey_answers", _w("Survey answers"), person_answers, {
            "survey": _w("Survey"), "question": _w("Question"), "answer": _w("Answer"),
            "submitted_at": _w("Submitted at")}, order=75))  # fmt: skip

        from siyu.privacy.erasure import register_person_eraser
        from siyu.surveys.actions import erase_person_answers, person_answers_left

        # erasure of a person (PIPL art. 47): their written answers, traits and profile attributes; the
        # responses and chosen options stay for the survey's counts
        register_person_eraser("surveys", "问卷（文字回答、画像属性）", erase_person_answers, person_answers_left)
