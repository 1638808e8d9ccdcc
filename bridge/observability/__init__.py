"""Logging setup and the periodic stats line."""
