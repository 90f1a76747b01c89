from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "siyu.surveys"
    label = "surveys"
