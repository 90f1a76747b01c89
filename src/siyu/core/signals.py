"""Signals a domain sends for what must flow backwards to a layer above it (DESIGN.md §7).

records_landed: a domain landed new records in the warehouse outside the jobs the pipeline follows itself
(an import, a WeCom sync), e.g. the contact of an add through a live code. Sent with `records_new`; the
pipeline answers with a coalesced resolve (siyu.pipeline.apps)."""

from django.dispatch import Signal

records_landed = Signal()
