"""Where a message goes, worked out at send time and never stored in clear.

Customers' addresses come from the complaints service (a recorded read),
staff addresses from the staff directory, webhook URLs and secrets from the
subscription. The log channel needs no address, so it reads no contact.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kernel.staff_directory import StaffDirectory
from services.notifications.channels import PermanentFailure
from services.notifications.contacts import ContactSource
from services.notifications.outbox import Message
from services.notifications.webhooks import Subscriptions


@dataclass(frozen=True)
class Address:
    """A resolved destination (and, for webhooks, the signing secret)."""

    address: str
    secret: str | None = None


class AddressBook:
    """Resolves messages to destinations."""

    def __init__(
        self,
        contacts: ContactSource | None,
        directory: StaffDirectory,
        subscriptions: Subscriptions,
    ) -> None:
        self.contacts = contacts
        self.directory = directory
        self.subscriptions = subscriptions

    def resolve(self, message: Message) -> Address:
        """The destination of `message`, or a `PermanentFailure` / `TransientFailure`."""
        if message.channel == "log":
            return Address(message.recipient_masked or message.recipient)
        if message.audience == "webhook":
            subscription = self.subscriptions.get(message.recipient)
            if subscription is None:
                raise PermanentFailure("subscription-removed")
            return Address(subscription.url, subscription.secret)
        if message.audience == "customer":
            if self.contacts is None:
                raise PermanentFailure("no-contact-source", "no complaints URL is configured")
            contact = self.contacts.read(message.complaint_id, f"notification:{message.template}")
            address = contact.address(message.channel)
        else:
            member = self.directory.get(message.recipient)
            address = member.address(message.channel) if member else None
        if not address:
            raise PermanentFailure("no-address", f"no {message.channel} address for the recipient")
        return Address(address)
