"""Shipped SLA policy data (TOML files, loaded as package data)."""
