"""Normalisers for imported values. Each has a scalar form and a vectorised polars form that agree.

Scalar: normalise_phone, normalise_name, normalise_gender, parse_birthday, parse_address, normalise_email,
parse_amount, parse_local_time, identifier_problem (which values are identifiers). Bulk: normalise_phones,
normalise_names, normalise_genders, parse_birthdays, parse_addresses, normalise_emails, parse_amounts,
parse_local_times, identifier_problems.
"""

from siyu.ingest.normalise.address import ADDRESS_COLUMNS, Address, city_tier, parse_address, parse_addresses
from siyu.ingest.normalise.identifiers import identifier_problem, identifier_problems, phone_problems
from siyu.ingest.normalise.name import NAME_COLUMNS, Name, normalise_name, normalise_names
from siyu.ingest.normalise.phone import PHONE_COLUMNS, Phone, normalise_phone, normalise_phones
from siyu.ingest.normalise.values import (
    normalise_email,
    normalise_emails,
    normalise_gender,
    normalise_genders,
    parse_amount,
    parse_amounts,
    parse_birthday,
    parse_birthday_column,
    parse_birthdays,
    parse_local_time,
    parse_local_times,
)

__all__ = [
    "ADDRESS_COLUMNS",
    "NAME_COLUMNS",
    "PHONE_COLUMNS",
    "Address",
    "Name",
    "Phone",
    "city_tier",
    "identifier_problem",
    "identifier_problems",
    "normalise_email",
    "normalise_emails",
    "normalise_gender",
    "normalise_genders",
    "normalise_name",
    "normalise_names",
    "normalise_phone",
    "normalise_phones",
    "parse_address",
    "parse_addresses",
    "parse_amount",
    "parse_amounts",
    "parse_birthday",
    "parse_birthday_column",
    "parse_birthdays",
    "parse_local_time",
    "parse_local_times",
    "phone_problems",
]
