"""The audit service: an immutable, verifiable ledger of the complaints feed.

Every feed event becomes one append-only ledger entry; the entries are the
leaves of an RFC 6962 Merkle tree whose signed checkpoints let a regulator
prove, with nothing but the public key, that no entry was changed, removed,
reordered or inserted. A summary of each complaint, kept from the same feed,
serves search and SLA reports.
"""
