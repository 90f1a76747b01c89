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
