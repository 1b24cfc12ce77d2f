"""The test suite: unit, integration (real HTTP, real databases) and end-to-end."""
