from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    name = "siyu.benchmarks"
    label = "benchmarks"
