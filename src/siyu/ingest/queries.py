"""Read side of ingest: what the imports brought in, as the pages show it."""

from __future__ import annotations

from siyu.warehouse import backend


def source_formats() -> dict[str, str | None]:
    """Each source (the channel name an import was given) and the format its files were read as; None
    for a source whose files came in several formats. From the batches: one row per imported file."""
    batches = backend().table("import_batches")
    pairs = batches.select("source", "format").distinct().to_pyarrow().to_pylist()
    formats: dict[str, str | None] = {}
    for row in pairs:
        source = row["source"]
        formats[source] = row["format"] if formats.get(source, row["format"]) == row["format"] else None
    return formats
