from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "siyu.pipeline"
    label = "pipeline"
    verbose_name = "Pipeline"
