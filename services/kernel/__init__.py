"""The shared kernel: what every service of the system needs in the same form.

Settings for authentication, bearer-token checks, RFC 9457 problems, JSON logs
with a request id, Prometheus metrics, database engines, leases for single
active workers, and the feed client that downstream services consume.
"""
