"""The money invariant, over every order in which a cart's events can happen.

For each ordering of what a customer and Stripe can do to one cart — pay, let the hour run
out (Stripe then expires an open page and says so, late), check out again from two tabs at
once, remove a photo, cancel from two tabs at once — and then Stripe's deliveries of every
event, late, three at a time and in any order, the shop must end with:
- every paid Checkout Session: exactly one order holding every photo paid for, or exactly
  one refund of the whole amount;
- no cart stuck: it is paid (with its order), or open, or waiting on a page Stripe still
  holds open or a bank debit still clearing.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from tests.fixtures.db import rows
from tests.fixtures.shop_on_stripe import assert_paid_session_settled_once, checkout, deliver
from tests.fixtures.shopping import upload_photos
from tests.fixtures.stripe_standin import StripeStandIn

STEPS = ("pay", "hour_ends", "checkout_again", "remove_photo", "cancel")


@dataclass
class Cart:
    id: str
    photos: list[str]
    page: str | None = None
    owed: list[tuple[str, str]] = field(default_factory=list)  # (event type, session id) Stripe will deliver


def at_once(count: int, action: Callable[[], Any]) -> list[Any]:
    """`count` copies of a request, released together (two tabs, concurrent deliveries)."""
    barrier = threading.Barrier(count)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(action())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def step(shop: TestClient, conn: db.Connection, standin: StripeStandIn, cart: Cart, name: str, paid: bool) -> None:
    if name == "pay":
        session = standin.sessions.get(cart.page or "")
        if session is not None and session["status"] == "open":
            standin.complete(session["id"], paid=paid)
            cart.owed.append(("checkout.session.completed", session["id"]))
    elif name == "hour_ends":
        # Our clock and Stripe's: Stripe expires a page still open at its time, and tells us late.
        conn.execute(
            "update checkouts set expires_at = now() - interval '1 minute' where upload_session_id = %s", [cart.id]
        )
        for session in standin.sessions.values():
            if session["metadata"].get("upload_session_id") == cart.id and session["status"] == "open":
                session["status"] = "expired"
                cart.owed.append(("checkout.session.expired", session["id"]))
    elif name == "checkout_again":
        answers = at_once(2, lambda: checkout(shop, cart.id))
        made = {a.json()["checkout_session_id"] for a in answers if a.status_code == 201}
        assert len(made) <= 1, "two tabs got two payment pages"
        assert all(a.status_code in (201, 409) for a in answers), [a.text for a in answers]
        if made:
            cart.page = made.pop()
    elif name == "remove_photo":
        answer = shop.delete(f"/api/uploads/{cart.id}/files/{cart.photos[0]}")
        assert answer.status_code in (204, 409), answer.text
        if answer.status_code == 204:
            cart.photos.pop(0)
    elif name == "cancel" and cart.page:
        answers = at_once(2, lambda: shop.post(f"/api/checkout/{cart.page}/cancel"))
        assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]


def stripe_delivers_everything(shop: TestClient, standin: StripeStandIn, cart: Cart, paid: bool, seed: int) -> None:
    """Every owed event, three times over, concurrently, in a shuffled order; then a debit
    clears and its success is delivered the same way."""
    owed = cart.owed * 3
    random.Random(seed).shuffle(owed)
    for kind, session_id in owed:
        assert deliver(shop, kind, standin.sessions[session_id]).status_code == 200
    if not paid:
        for session in list(standin.sessions.values()):
            ours = session["metadata"].get("upload_session_id") == cart.id
            if ours and (session["status"], session["payment_status"]) == ("complete", "unpaid"):
                settled = standin.settle(session["id"])
                answers = at_once(3, lambda s=settled: deliver(shop, "checkout.session.async_payment_succeeded", s))
                assert {a.status_code for a in answers} == {200}


def assert_invariant(conn: db.Connection, standin: StripeStandIn, cart: Cart) -> str:
    """Checks the invariant for the cart; returns how it ended (`paid`, `open`, `waiting`)."""
    sessions = [s for s in standin.sessions.values() if s["metadata"].get("upload_session_id") == cart.id]
    for session in sessions:
        if session["payment_status"] in ("paid", "no_payment_required"):
            assert_paid_session_settled_once(conn, standin, session["id"])
    [state] = rows(conn, "select status from upload_sessions where id = %s", cart.id)
    live = rows(
        conn,
        "select status, stripe_checkout_session_id from checkouts where upload_session_id = %s "
        "and status in ('creating', 'open', 'awaiting_payment')",
        cart.id,
    )
    if state["status"] == "paid":
        assert rows(conn, "select count(*) as n from orders where upload_session_id = %s", cart.id) == [{"n": 1}]
        return "paid"
    if state["status"] == "checkout":
        # Frozen only while Stripe may still take the money: a page it holds open, or a debit.
        [checkout_row] = live
        held = standin.sessions[checkout_row["stripe_checkout_session_id"]]
        assert (held["status"], checkout_row["status"]) in (("open", "open"), ("complete", "awaiting_payment"))
        return "waiting"
    assert state["status"] == "open" and live == []
    return "open"


@pytest.mark.parametrize("first", STEPS)
@pytest.mark.parametrize("paid", [True, False], ids=["card", "bank_debit"])
def test_every_ordering_of_a_carts_events_ends_in_one_order_or_one_refund_and_no_stuck_cart(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn, paid: bool, first: str
) -> None:
    """The orderings that start with `first` (split so the orderings run in parallel)."""
    endings: set[str] = set()
    rest = [s for s in STEPS if s != first]
    for number, tail in enumerate(itertools.permutations(rest)):
        ordering = (first, *tail)
        upload = upload_photos(stripe_shop, 2)
        cart = Cart(upload["upload_session_id"], [p["id"] for p in upload["photos"]])
        opened = checkout(stripe_shop, cart.id)
        assert opened.status_code == 201, opened.text
        cart.page = opened.json()["checkout_session_id"]
        for name in ordering:
            step(stripe_shop, conn, stripe_standin, cart, name, paid)
        stripe_delivers_everything(stripe_shop, stripe_standin, cart, paid, seed=number)
        try:
            endings.add(assert_invariant(conn, stripe_standin, cart))
        except AssertionError as failure:
            raise AssertionError(f"after {' → '.join(ordering)}: {failure}") from failure
    if first == "pay":
        # Paid before anything else could happen: whatever follows, that payment is the order.
        assert endings == {"paid"}, endings
    else:
        # The orderings reach different ends; a run where every cart ended alike checked little.
        assert len(endings) > 1, endings
