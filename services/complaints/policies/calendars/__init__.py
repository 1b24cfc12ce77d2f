"""Shipped business calendars (TOML files, loaded as package data)."""
