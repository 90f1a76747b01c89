"""Events' properties: each event keeps them as one JSON object in a text column (siyu.warehouse.schema
"events"). The one way to read a property in an expression, so segments, journeys and analytics agree on
what "the event's code_id is 5" means."""

from __future__ import annotations

import re

import ibis
import ibis.expr.datatypes as dt

from siyu.warehouse.connection import engine

# A property's name in a path: JSON paths give "." and "[" meanings, so names are plain identifiers.
PROPERTY_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def event_property(events: ibis.Table, name: str, *, lenient: bool = False) -> ibis.StringValue:
    """The property `name` of each event as text (a number 5 and a text "5" both read "5"); null when the
    event has no such property. JSON access compiles to the engine's own functions through Ibis on DuckDB;
on Spark it is get_json_object."""
    if not PROPERTY_NAME.match(name):
        raise ValueError(f"not a property name: {name!r}")
    if engine() == "spark":
        # Ibis 12 compiles a cast to JSON on Spark to to_json(), which refuses a string column
        return _get_json_object(events.properties, ibis.literal(f"$.{name}"))
    # lenient: properties that are not valid JSON read as no property (one malformed row must not fail a
    # page that reads thousands); Spark's get_json_object always reads them so
    value = (events.properties.try_cast("json") if lenient else events.properties.cast("json"))[name]
    return ibis.cases((value.str.notnull(), value.str), else_=value.cast("string"))


@ibis.udf.scalar.builtin(name="get_json_object", signature=((dt.string, dt.string), dt.string))
def _get_json_object(json_text, path):
    """Spark's get_json_object(text, '$.name'): a string property's text, a number's or object's JSON."""


def with_properties(events: ibis.Table, wanted: dict[str, str]) -> ibis.Table:
    """The events whose properties equal every (name, value) of `wanted` (compared as text)."""
    for name, value in wanted.items():
        events = events.filter(event_property(events, name) == str(value))
    return events



@ibis.udf.scalar.builtin(name="from_json", signature=((dt.string, dt.string), dt.Array(dt.string)))
def _from_json(json_text, schema):
    """Spark's from_json(text, schema)."""


def event_list_property(events: ibis.Table, name: str) -> ibis.ArrayValue:
    """The property `name` when it is a JSON list, as a list of texts (NULL when missing, not a list, or
    when the properties are not valid JSON)."""
    if not PROPERTY_NAME.match(name):
        raise ValueError(f"not a property name: {name!r}")
    if engine() == "spark":
        return _from_json(_get_json_object(events.properties, ibis.literal(f"$.{name}")), "array<string>")
    return events.properties.try_cast("json")[name].array.map(lambda item: item.str)
