"""Siyu (私域): own your customers instead of renting them from platforms."""

__version__ = "0.1.0"
