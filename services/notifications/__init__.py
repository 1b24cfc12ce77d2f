"""The notifications service: tells customers and staff, over real channels, once each.

It consumes the complaints feed, decides from rules which messages each event
causes, keeps them in an outbox written in the same transaction as the feed
position, and delivers them with retries, backoff and a dead-letter state.
"""
