"""Checkout: price an upload session's photos on the server and open a payment page.

The `checkouts` row records exactly which photos were priced and for how much; the
webhook later fulfils that record, never whatever the session holds by then. While a
checkout is live the session is frozen (no photos added or removed).

The provider is called outside any transaction (a network call must not hold locks):
1. one transaction freezes the session and writes the checkout as `creating`;
2. the provider creates its session, with an idempotency key derived from the photos;
3. one transaction marks the checkout `open` with the provider's id and URL.
A crash after 1 leaves a `creating` checkout that the next attempt resumes with the same
idempotency key, so the provider hands back the same session instead of a second one.

A customer who goes back from the payment page cancels the checkout (`cancel_checkout`):
the provider's session is expired first, then the session is theirs to change again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import BaseModel

from shared import db
from shared.audit import record_audit
from shared.config import Settings
from shared.errors import Conflict, NotFound, RestoreClickError, ValidationFailed
from shared.payments import CheckoutAlreadyPaid, CheckoutRequest, PaymentsProvider
from shared.uploads.sessions import (
    UploadSession,
    ensure_session_accepts_photos,
    photos_in_session,
    upload_session,
)

PRODUCT_NAME = "Photo restoration"


class Checkout(BaseModel):
    id: UUID
    upload_session_id: UUID
    stripe_checkout_session_id: str | None
    payments_provider: str
    status: str
    email: str
    name: str | None
    file_upload_ids: list[UUID]
    photo_count: int
    unit_amount: int
    amount_total: int
    currency: str
    idempotency_key: str
    checkout_url: str | None
    expires_at: datetime
    completed_at: datetime | None
    created_at: datetime

    @property
    def photos_digest(self) -> str:
        """Names exactly the priced photos; travels in the payment session's metadata."""
        return hashlib.sha256(",".join(sorted(str(i) for i in self.file_upload_ids)).encode()).hexdigest()[:32]


def idempotency_key(
    session_id: UUID, attempt: int, photo_ids: list[UUID], email: str, amount: int, currency: str
) -> str:
    """Same session, attempt, photos, buyer and price: same key, so the provider hands back
    the same session. `attempt` counts earlier checkouts of the session, so a new checkout
    after an expired one gets a new payment page instead of the dead one."""
    material = ":".join(
        [str(session_id), str(attempt), *sorted(map(str, photo_ids)), email.lower(), str(amount), currency]
    )
    return "checkout-" + hashlib.sha256(material.encode()).hexdigest()[:48]


def _price_session(
    conn: db.Connection, settings: Settings, session: UploadSession, email: str, name: str | None
) -> Checkout:
    """Freeze the session and record what is being paid for (status `creating`)."""
    photos = photos_in_session(conn, session.id)
    if any(p.status == "pending" for p in photos):
        raise Conflict(
            "some photos are still uploading; finish or remove them, then check out",
            code="uploads_in_progress",
        )
    ready = [p for p in photos if p.status == "uploaded"]
    if not ready:
        raise ValidationFailed("this upload session has no photos to restore", code="empty_session")
    amount = settings.price_per_photo * len(ready)
    photo_ids = [p.id for p in ready]
    checkout = db.one(
        conn, "insert_checkout", Checkout,
        upload_session_id=str(session.id),
        payments_provider=settings.effective_payments_provider,
        email=email, name=name,
        file_upload_ids=[str(i) for i in photo_ids],
        photo_count=len(ready), unit_amount=settings.price_per_photo, amount_total=amount,
        currency=settings.currency,
        idempotency_key=idempotency_key(
            session.id,
            db.one(conn, "count_checkouts_for_session", upload_session_id=str(session.id))["n"],
            photo_ids, email, amount, settings.currency,
        ),
        expires_at=datetime.now(UTC) + timedelta(minutes=settings.checkout_expiry_minutes),
    )  # fmt: skip
    db.execute(conn, "set_upload_session_status", upload_session_id=str(session.id), status="checkout")
    return checkout


def start_checkout(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    session_id: UUID,
    email: str,
    name: str | None = None,
) -> Checkout:
    """Price the session's photos and open (or reopen, when retried) a payment page."""
    email = email.strip()
    with database.transaction(actor="checkout") as conn:
        session = db.maybe_one(conn, "lock_upload_session", UploadSession, upload_session_id=str(session_id))
        if session is None:
            raise NotFound("no upload session with that id", code="upload_session_not_found")
        if session.status == "checkout":
            live = db.maybe_one(conn, "live_checkout_for_session", Checkout, upload_session_id=str(session_id))
            if live is not None and live.expires_at <= datetime.now(UTC):
                # Its expiry event never came; the page is dead, so free the session.
                db.maybe_one(conn, "expire_checkout", checkout_id=str(live.id))
                session = session.model_copy(update={"status": "open"})
            elif live is None or live.email.lower() != email.lower():
                raise Conflict("a checkout is already open for this upload session", code="checkout_in_progress")
            elif live.status == "open":
                return live  # the customer pressed the button twice
            else:
                checkout = live  # a crash left it `creating`: resume with the same key
        if session.status != "checkout":
            ensure_session_accepts_photos(session)
            checkout = _price_session(conn, settings, session, email, name)

    request = CheckoutRequest(
        upload_session_id=str(session_id),
        checkout_id=str(checkout.id),
        customer_email=email,
        photo_count=checkout.photo_count,
        unit_amount=checkout.unit_amount,
        currency=checkout.currency,
        product_name=PRODUCT_NAME,
        success_url=settings.success_url,
        cancel_url=settings.cancel_url.replace("{UPLOAD_SESSION_ID}", str(session_id)),
        expires_at=checkout.expires_at,
        idempotency_key=checkout.idempotency_key,
        metadata={
            "upload_session_id": str(session_id),
            "checkout_id": str(checkout.id),
            "photo_count": str(checkout.photo_count),
            "photos": checkout.photos_digest,
        },
    )
    try:
        created = payments.create_checkout_session(request)
    except RestoreClickError:
        with database.transaction(actor="checkout") as conn:
            db.maybe_one(conn, "abandon_checkout", checkout_id=str(checkout.id))
        raise
    with database.transaction(actor="checkout") as conn:
        return db.one(
            conn, "open_checkout", Checkout,
            checkout_id=str(checkout.id), stripe_checkout_session_id=created.id,
            checkout_url=created.url, expires_at=created.expires_at,
        )  # fmt: skip


def cancel_checkout(database: db.Database, payments: PaymentsProvider, checkout_session_id: str) -> UploadSession:
    """The customer went back from the payment page: end that page and give them their
    upload session back to change the photos and check out again. Returns the session
    (`open` again, unless a newer checkout of it is already live).

    The provider expires its session first, so it can no longer be paid; only then is the
    upload session released. If the customer paid first, the provider refuses with
    CheckoutAlreadyPaid and nothing changes here: the payment webhook makes the order.
    Cancelling twice, or at once from two tabs, answers the same; one of them reopens.
    """
    with database.transaction(actor="checkout") as conn:
        checkout = db.maybe_one(
            conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=checkout_session_id
        )
    if checkout is None:
        raise NotFound("no checkout with that id", code="checkout_not_found")
    if checkout.status == "completed":
        raise CheckoutAlreadyPaid("this checkout was already paid")
    if checkout.status == "open":
        payments.expire_checkout_session(checkout_session_id)  # outside any transaction: a network call
    with database.transaction(actor="checkout") as conn:
        # Updates only a live checkout: of concurrent cancels, exactly one reopens the session.
        if db.maybe_one(conn, "expire_checkout", checkout_id=str(checkout.id)) is not None:
            record_audit(
                conn, "checkout", checkout.id, "checkout.cancelled",
                old={"status": checkout.status}, new={"status": "expired"}, actor="customer",
            )  # fmt: skip
        return upload_session(conn, checkout.upload_session_id)
