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

When the provider answers 2 with a refusal or a failure (Stripe saves that answer under the
key and replays it for 24 h), the checkout fails and the cart is free at once; the next
attempt gets a new key. When it gives no answer at all (a timeout), the provider may have
made the session: the checkout fails too, but a retry for the same photos reuses its key,
so the provider hands that session back instead of making a second.

Nothing Stripe may have taken money for is ever reopened on our clock alone: a checkout
past its time, or one the customer cancels, ends only when the provider confirms it (its
expire call succeeds, or the session reads `expired`). A session that turns out complete
but unpaid (a bank debit clearing) keeps the photos frozen as `awaiting_payment`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import BaseModel

from shared.core import db
from shared.core.audit import record_audit
from shared.core.config import Settings
from shared.core.errors import Conflict, NotFound, RestoreClickError, ValidationFailed
from shared.payments import (
    CheckoutAlreadyPaid,
    CheckoutRequest,
    CheckoutSessionInfo,
    PaymentsProvider,
    PaymentsUnavailable,
)
from shared.uploads.sessions import (
    UploadSession,
    ensure_session_accepts_photos,
    photos_in_session,
    upload_session,
)

PRODUCT_NAME = "Photo restoration"
PAID_STATES = ("paid", "no_payment_required")


class PaymentPending(Conflict):
    """The customer completed the payment page with a method that clears later (a bank
    debit): the photos stay as they were paid for until it clears or fails."""

    code = "payment_pending"


PENDING_MESSAGE = "a payment for these photos is still clearing; we will email you when it does"


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
    stripe_payment_intent_id: str | None = None
    create_unanswered_at: datetime | None = None
    refund_reason: str | None = None
    refund_attempts: int = 0
    stripe_refund_id: str | None = None
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
    unanswered = db.maybe_one(
        conn, "unanswered_checkout_to_resume", Checkout,
        upload_session_id=str(session.id), email=email, amount_total=amount, currency=settings.currency,
        file_upload_ids=[str(i) for i in photo_ids],
    )  # fmt: skip
    if unanswered is not None:
        db.execute(conn, "set_upload_session_status", upload_session_id=str(session.id), status="checkout")
        return db.one(conn, "resume_unanswered_checkout", Checkout, checkout_id=str(unanswered.id))
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


def lock_checkout(conn: db.Connection, checkout: Checkout) -> Checkout:
    """The checkout as it is now, locked after its upload session (the one lock order)."""
    db.execute(conn, "lock_upload_session", upload_session_id=str(checkout.upload_session_id))
    return db.one(conn, "lock_checkout", Checkout, checkout_id=str(checkout.id))


def locked_checkout_of_session(conn: db.Connection, stripe_checkout_session_id: str) -> Checkout | None:
    """Our checkout behind a provider's checkout session, locked as `lock_checkout` does; None if not ours."""
    found = db.maybe_one(
        conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=stripe_checkout_session_id
    )
    return lock_checkout(conn, found) if found else None


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
    checkout = _checkout_to_create(database, payments, settings, session_id, email, name)
    if checkout.status == "open":
        return checkout
    request = CheckoutRequest(
        upload_session_id=str(session_id),
        checkout_id=str(checkout.id),
        customer_email=checkout.email,
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
    except RestoreClickError as exc:
        unanswered = isinstance(exc, PaymentsUnavailable) and not exc.answered
        with database.transaction(actor="checkout") as conn:
            db.maybe_one(conn, "abandon_checkout", checkout_id=str(checkout.id), unanswered=unanswered)
        raise
    with database.transaction(actor="checkout") as conn:
        return db.one(
            conn, "open_checkout", Checkout,
            checkout_id=str(checkout.id), stripe_checkout_session_id=created.id,
            checkout_url=created.url, expires_at=created.expires_at,
        )  # fmt: skip


def _checkout_to_create(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    session_id: UUID,
    email: str,
    name: str | None,
) -> Checkout:
    """The checkout to open at the provider: an open one to hand back as it is, a `creating`
    one to resume, or a new one. A live checkout past its time is first ended at the
    provider (outside any transaction); only once the provider confirms is the cart priced
    anew. Each round moves the live checkout on, so two rounds settle it; a third means
    another request keeps changing the cart, and the customer is told to try again."""
    for _ in range(3):
        with database.transaction(actor="checkout") as conn:
            session = db.maybe_one(conn, "lock_upload_session", UploadSession, upload_session_id=str(session_id))
            if session is None:
                raise NotFound("no upload session with that id", code="upload_session_not_found")
            live = None
            if session.status == "checkout":
                live = db.maybe_one(conn, "live_checkout_for_session", Checkout, upload_session_id=str(session_id))
                if live is None:
                    # Frozen with nothing live to wait for: no payment can come, so free it.
                    session = db.one(
                        conn,
                        "set_upload_session_status",
                        UploadSession,
                        upload_session_id=str(session_id),
                        status="open",
                    )
            if live is None:
                ensure_session_accepts_photos(session)
                return _price_session(conn, settings, session, email, name)
            if live.status == "awaiting_payment":
                raise PaymentPending(PENDING_MESSAGE)
            past_its_time = live.expires_at <= datetime.now(UTC)
            if live.status == "creating" and past_its_time:
                # A crash left it `creating` and the provider would now refuse its expiry:
                # no customer ever had its page, so it ends here and the cart is priced anew.
                db.maybe_one(conn, "abandon_checkout", checkout_id=str(live.id), unanswered=False)
                continue
            if not past_its_time:
                if live.email.lower() != email.lower():
                    raise Conflict("a checkout is already open for this upload session", code="checkout_in_progress")
                return live  # `open`: the customer pressed the button twice; `creating`: resume its key
        # Its time is up, but the provider may hold it complete (its event late or lost).
        end_checkout_at_provider(database, payments, live, actor="checkout")
    raise Conflict("this upload session is changing right now; try again", code="checkout_in_progress")


def end_checkout_at_provider(
    database: db.Database,
    payments: PaymentsProvider,
    checkout: Checkout,
    *,
    actor: str,
    action: str = "checkout.expired",
) -> UploadSession | None:
    """End an open checkout's payment page at the provider, then free its cart.

    Returns the reopened session, or None when another caller reopened it first. Raises
    CheckoutAlreadyPaid when the customer paid first (the webhook or reconciliation makes
    the order), PaymentPending when they paid with a method still clearing, and
    PaymentsUnavailable when the provider cannot say: then nothing changes here.
    """
    assert checkout.stripe_checkout_session_id is not None
    try:
        payments.expire_checkout_session(checkout.stripe_checkout_session_id)
    except CheckoutAlreadyPaid as paid:
        if paid.session is not None and paid.session.payment_status not in PAID_STATES:
            record_payment_pending(database, checkout, paid.session)
            raise PaymentPending(PENDING_MESSAGE) from None
        raise
    with database.transaction(actor=actor) as conn:
        lock_checkout(conn, checkout)
        reopened = db.maybe_one(conn, "expire_checkout", UploadSession, checkout_id=str(checkout.id))
        if reopened is not None:
            record_audit(
                conn, "checkout", checkout.id, action,
                old={"status": checkout.status}, new={"status": "expired"}, actor=actor,
            )  # fmt: skip
        return reopened


def record_payment_pending(database: db.Database, checkout: Checkout, info: CheckoutSessionInfo) -> None:
    with database.transaction(actor="checkout") as conn:
        lock_checkout(conn, checkout)
        db.maybe_one(conn, "await_payment", checkout_id=str(checkout.id), payment_intent=info.payment_intent)


def cancel_checkout(database: db.Database, payments: PaymentsProvider, checkout_session_id: str) -> UploadSession:
    """The customer went back from the payment page: end that page and give them their
    upload session back to change the photos and check out again. Returns the session
    (`open` again, unless a newer checkout of it is already live).

    The provider expires its session first, so it can no longer be paid; only then is the
    upload session released. If the customer paid first, the provider refuses with
    CheckoutAlreadyPaid and nothing changes here: the payment webhook makes the order.
    Cancelling twice, or at once from two tabs, answers the same; one of them reopens.
    """
    # No id holds a NUL (PostgreSQL's text cannot): as unknown as any other id.
    checkout = None
    if "\x00" not in checkout_session_id:
        with database.transaction(actor="checkout") as conn:
            checkout = db.maybe_one(
                conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=checkout_session_id
            )
    if checkout is None:
        raise NotFound("no checkout with that id", code="checkout_not_found")
    if checkout.status == "completed":
        raise CheckoutAlreadyPaid("this checkout was already paid")
    if checkout.status in ("refunding", "refunded"):
        raise CheckoutAlreadyPaid("this checkout was paid and could not be fulfilled: it is refunded in full")
    if checkout.status == "awaiting_payment":
        raise PaymentPending(PENDING_MESSAGE)
    if checkout.status == "open":
        end_checkout_at_provider(database, payments, checkout, actor="customer", action="checkout.cancelled")
    with database.transaction(actor="checkout") as conn:
        return upload_session(conn, checkout.upload_session_id)
