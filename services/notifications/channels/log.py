"""The log channel: writes that a message would have gone out, for local runs.

Only the key, template language and subject are logged: subjects carry the
case number and fixed words, never an address or a name.
"""

from __future__ import annotations

import logging

from services.notifications.channels import Delivery

log = logging.getLogger("services.notifications.log_channel")


class LogChannel:
    """Delivers by writing a log line."""

    name = "log"

    def send(self, delivery: Delivery) -> str:
        """Log the delivery."""
        log.info(
            "notification",
            extra={
                "delivery_key": delivery.key,
                "language": delivery.language,
                "subject": delivery.subject,
            },
        )
        return "logged"
