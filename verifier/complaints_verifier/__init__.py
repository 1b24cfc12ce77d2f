"""The audit ledger's standalone verifier: checkpoints, entries and proofs, trusting one key.

`complaints-verify` (or `python -m complaints_verifier`) runs it; the modules:
`note` (C2SP signed checkpoints), `merkle` (RFC 6962 / 9162 tree and proofs),
`verify` (the checks against a running audit service over HTTP).
"""

__version__ = "0.1.0"
