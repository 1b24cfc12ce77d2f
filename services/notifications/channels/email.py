"""E-mail over SMTP, with the delivery key as the Message-ID.

A retry after a crash sends the same Message-ID again, so a mail system (or
the customer's client) can recognise and drop the copy.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from services.notifications.channels import Delivery, PermanentFailure, TransientFailure


class EmailChannel:
    """Sends plain-text e-mail through one SMTP server."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        starttls: bool = False,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.user = user
        self.password = password
        self.timeout = timeout
        self.domain = sender.rpartition("@")[2] or "notifications.invalid"

    def message(self, delivery: Delivery) -> EmailMessage:
        """The e-mail for a delivery."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = delivery.address
        mail["Subject"] = delivery.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id(delivery.key, self.domain)
        mail["X-Delivery-Key"] = delivery.key
        mail.set_content(delivery.body, charset="utf-8")
        # After set_content, which drops every Content-* header set before it.
        mail["Content-Language"] = delivery.language
        return mail

    def send(self, delivery: Delivery) -> str:
        """Hand the message to the SMTP server."""
        mail = self.message(delivery)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentFailure("rejected", f"SMTP {codes[0]}") from exc
            raise TransientFailure(f"SMTP {codes[0] if codes else '?'}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPSenderRefused):
                raise PermanentFailure("rejected", f"SMTP {exc.smtp_code}") from exc
            raise TransientFailure(f"SMTP {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientFailure(f"SMTP unavailable: {type(exc).__name__}") from exc
        return "accepted by the SMTP server"


def message_id(key: str, domain: str) -> str:
    """The Message-ID header carrying a delivery key."""
    return f"<{key}@{domain}>"
