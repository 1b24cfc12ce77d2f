"""The complaints domain: workflow, SLA policy and the business clock (pure Python)."""
