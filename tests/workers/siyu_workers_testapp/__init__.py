"""A Django app for the worker processes of tests/workers: a job kind that needs no warehouse, and a
warehouse that refuses to start (so no JVM starts if anything reaches for it)."""
