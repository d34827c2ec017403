"""What a handler of one Stripe event type is given, and what it gives back.

Handlers never mark an event handled themselves: dispatch does, through the
`mark_handled` it gives each delivery, which a handler calls as the last statement of
the transaction that applies the event (so the effects and the mark commit together), or
leaves to dispatch when nothing was applied (`Handled.marked` says which).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import NotFound
from shared.payments import CheckoutSessionInfo, PaymentsProvider, PaymentsRejected


@dataclass(frozen=True)
class Delivery:
    """One delivery of a verified event that is recorded and not yet handled."""

    database: db.Database
    payments: PaymentsProvider
    settings: Settings
    event: dict[str, Any]
    # Given by dispatch: call it inside the transaction that applies the event.
    mark_handled: Callable[[db.Connection], None]

    @property
    def object(self) -> dict[str, Any]:
        """The event's `data.object` (its shape was checked before it was recorded)."""
        return self.event["data"]["object"]  # type: ignore[no-any-return]

    def checkout_session_now(self) -> CheckoutSessionInfo | None:
        """The event's checkout session as the provider holds it now, read outside any
        transaction: an event is a hint, the session is the truth. None when the provider
        does not know it (not a session of ours to act on)."""
        try:
            return self.payments.retrieve_checkout_session(self.object.get("id", ""))
        except (NotFound, PaymentsRejected):
            return None


@dataclass(frozen=True)
class Handled:
    """What a handler did with an event."""

    answer: dict[str, Any]  # the webhook's answer to Stripe
    marked: bool = False  # marked handled in the transaction that applied it; else dispatch marks it
    error: str | None = None  # kept on the event when dispatch marks it: someone should look


Handler = Callable[[Delivery], Handled]
