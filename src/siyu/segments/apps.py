from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "siyu.segments"
    label = "segments"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.segments import actions, exports, prediction_actions

        register_job("traits", actions.run_traits_job)
        register_job("scheduled_refresh", actions.run_scheduled_refresh_job)
        register_job("predict", prediction_actions.run_predict_job)
        register_job("export", exports.run_export_job)

        from siyu.privacy.erasure import register_person_eraser

        # erasure of a person (PIPL art. 47): their rows in the export files Siyu wrote, where still on disk
        register_person_eraser("exports", "导出文件（按审计日志找到、仍在原位置的文件）", actions.erase_person_exports,
                               actions.person_exports_left)  # fmt: skip
