"""Erasure: one person, gone from the shop on request, with accounting kept.

`erase_customer` removes the address, name and phone (customer row, checkouts, queued
emails, resend requests and their throttle count, Stripe event payloads), the filenames
the customer gave, every photo in storage and their download links. It keeps what
accounting needs: order numbers, amounts, currency, dates and the Stripe ids. The audit
log records that the customer (by id) was erased and by whom, never the address.

Order of work, so that nothing is left holding a photo whatever fails:
1. one transaction finds every id and path, and refuses while an order is still being
   restored or a checkout may still be paid (erasing then would pull photos from under a
   running job, or lose a payment Stripe is about to settle);
2. the objects are deleted (deleting a missing object is no error);
3. one transaction locks the customer rows (fulfilment's get-or-create of the address
   waits on it), checks again, and scrubs every row; its objects, should an order have
   added any in between, are deleted after it commits.
A run that dies part-way is finished by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.core import db
from shared.core.audit import record_audit
from shared.core.errors import Conflict
from shared.storage import StorageService

SCRUBS = (
    "erase_customers",
    "erase_checkouts",
    "erase_image_names",
    "erase_upload_names",
    "close_erased_upload_sessions",
    "mark_erased_orders",
    "delete_erased_download_links",
    "erase_queued_emails",
    "erase_job_errors",
    "delete_erased_resend_requests",
    "delete_erased_throttle_counts",
    "erase_stripe_event_payloads",
    "erase_error_log_subjects",
)


class ErasureBlocked(Conflict):
    """The person still has work under way; erase once it ends."""

    code = "erasure_blocked"


@dataclass
class ErasureReport:
    customer_ids: list[str] = field(default_factory=list)
    orders: int = 0
    checkouts: int = 0
    objects_deleted: int = 0
    rows_changed: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.customer_ids or self.checkouts or any(self.rows_changed.values()))


def _scope(conn: db.Connection, email: str) -> dict[str, Any]:
    scope: dict[str, Any] = db.one(conn, "erasure_scope", email=email)
    blockers = db.all_rows(conn, "erasure_blockers", order_ids=scope["order_ids"], checkout_ids=scope["checkout_ids"])
    if blockers:
        raise ErasureBlocked(
            "not erased yet: " + "; ".join(b["reason"] for b in blockers) + ". Erase again once it has ended."
        )
    return scope


def _paths(conn: db.Connection, storage: StorageService, scope: dict[str, Any]) -> set[str]:
    rows = db.all_rows(
        conn, "erasure_object_paths",
        order_ids=scope["order_ids"], upload_session_ids=scope["upload_session_ids"],
    )  # fmt: skip
    paths = {r["storage_path"] for r in rows}
    # A direct upload's object waits under uploads/incoming/ until it is checked.
    paths.update(storage.incoming_path_for(p) for p in list(paths) if p.startswith("uploads/temp/"))
    for order_id in scope["order_ids"]:
        for folder in storage.order_folders(order_id):
            paths.update(o.path for o in storage.store.list(folder))
    return paths


def erase_customer(database: db.Database, storage: StorageService, email: str, *, actor: str) -> ErasureReport:
    """Erase the person with this address; see the module's docstring for what goes."""
    email = email.strip()
    with database.transaction(actor=actor) as conn:
        first = _paths(conn, storage, _scope(conn, email))
    storage.delete_objects(sorted(first))
    report = ErasureReport()
    with database.transaction(actor=actor) as conn:
        db.all_rows(conn, "lock_erasure_customers", email=email)
        scope = _scope(conn, email)
        later = _paths(conn, storage, scope) - first
        jobs = [r["id"] for r in db.all_rows(conn, "erasure_job_ids", order_ids=scope["order_ids"])]
        subjects = [str(i) for i in (*scope["order_ids"], *scope["checkout_ids"])] + jobs
        params = {**scope, "email": email, "subject_ids": subjects}
        for name in SCRUBS:
            report.rows_changed[name] = db.execute(conn, name, **params)
        report.customer_ids = [str(i) for i in scope["customer_ids"]]
        report.orders, report.checkouts = len(scope["order_ids"]), len(scope["checkout_ids"])
        report.objects_deleted = len(first) + len(later)
        # Who was erased, by id: the address itself is exactly what must not stay. A person
        # with no customer row (a refunded or abandoned checkout) is named by a checkout.
        subject = (
            ("customer", report.customer_ids[:1]) if report.customer_ids else ("checkout", scope["checkout_ids"][:1])
        )
        if subject[1]:
            record_audit(
                conn, subject[0], str(subject[1][0]), "customer.erased", actor=actor,
                new={"customer_ids": report.customer_ids, "orders": report.orders,
                     "checkouts": report.checkouts, "objects_deleted": report.objects_deleted},
            )  # fmt: skip
    storage.delete_objects(sorted(later))
    return report
