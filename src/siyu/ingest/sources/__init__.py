"""Per-platform sources: which headers mean which field, what a record is, how statuses map.

A format is data, not code: `FORMATS` maps a name to a `SourceFormat`. Headers are matched by name with
aliases, never by position.
"""

from siyu.ingest.sources.formats import FIELDS, FORMATS, SourceFormat, detect_format, map_columns  # noqa: F401
