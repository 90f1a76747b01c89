"""Fixtures the browser tests share (the server helpers are in e2e_server)."""

from __future__ import annotations

import pytest
from e2e_server import operator_server


@pytest.fixture
def predicted_server(predicted_template, tmp_path):
    """`siyu serve` over a copy of the predicted synthetic brand (tests/segments/prediction_data.py), with
    the operator `ops`; the base URL."""
    with operator_server(predicted_template["path"], tmp_path) as base:
        yield base
