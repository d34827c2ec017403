"""A local stand-in for the part of the Stripe API that StripePayments calls.

It is a small FastAPI app served by uvicorn on 127.0.0.1 in a background thread, so the
official `stripe` package talks real HTTP to it (form-encoded bodies, headers, retries,
pagination). It checks a request the way Stripe would and answers in Stripe's shapes:

- POST /v1/checkout/sessions            create (validated; below Stripe's minimum charge
                                        refused with `amount_too_small`)
- GET  /v1/checkout/sessions/{id}       retrieve (404 `resource_missing` when unknown)
- POST /v1/checkout/sessions/{id}/expire  expire an open session; 400 for any other status
- GET  /v1/checkout/sessions            list: created[gte|gt|lte|lt], status, limit,
                                        starting_after, newest first, `has_more`
- POST /v1/refunds, GET /v1/refunds     refund a paid PaymentIntent; list its refunds

Every POST honours Idempotency-Key as Stripe documents it (docs.stripe.com/api/idempotent_requests
and docs.stripe.com/error-low-level#idempotency): the first answer is saved once the endpoint
begins executing, a 500 included, and replayed for every later request with that key (with
`Idempotent-Replayed: true`); the same key with other parameters or on another endpoint is
refused with an `idempotency_error`; a request refused by validation saves nothing.

Tests drive it through `StripeStandIn`: `complete()` pays a session (or completes it unpaid,
as a bank debit does, for `settle()` later), `add_session()` puts sessions straight into
the store, `fail_next()` makes the next requests answer 500 (before executing, or while
executing: then the 500 is saved under the key), `drop_next()` carries out the next
requests but answers only after the client gave up (a timeout), and `requests` records
every request (method, path, headers, parsed form and query).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SESSIONS_URL = "/v1/checkout/sessions"
REFUNDS_URL = "/v1/refunds"
# Stripe's smallest charge per currency, in minor units (docs.stripe.com/currencies,
# "Minimum and maximum charge amounts"); a positive total below it is refused.
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
REFUND_PARAMS = {"payment_intent", "charge", "amount", "reason", "metadata", "expand"}
REFUND_LIST_PARAMS = {"payment_intent", "charge", "limit", "starting_after", "ending_before", "created", "expand"}
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
MAX_PAGE = 100

# Parameters Stripe accepts on POST /v1/checkout/sessions (a subset of the real list,
# enough that a misspelt parameter is refused as Stripe refuses it).
CREATE_PARAMS = {
    "mode",
    "line_items",
    "customer_email",
    "customer",
    "client_reference_id",
    "metadata",
    "payment_intent_data",
    "success_url",
    "cancel_url",
    "expires_at",
    "currency",
    "locale",
    "payment_method_types",
    "allow_promotion_codes",
    "billing_address_collection",
    "customer_creation",
    "submit_type",
    "automatic_tax",
    "ui_mode",
    "return_url",
    "expand",
}
LINE_ITEM_PARAMS = {
    "price",
    "price_data",
    "quantity",
    "adjustable_quantity",
    "tax_rates",
    "dynamic_tax_rates",
}
PRICE_DATA_PARAMS = {
    "currency",
    "unit_amount",
    "unit_amount_decimal",
    "product",
    "product_data",
    "tax_behavior",
}
PRODUCT_DATA_PARAMS = {"name", "description", "images", "metadata", "tax_code", "unit_label"}
PAYMENT_INTENT_DATA_PARAMS = {
    "metadata",
    "description",
    "capture_method",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_group",
}
LIST_PARAMS = {
    "created",
    "status",
    "limit",
    "starting_after",
    "ending_before",
    "customer",
    "payment_intent",
    "expand",
}
EXPIRE_PARAMS = {"expand"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# -- Stripe's form encoding -------------------------------------------------------------


def parse_stripe_form(body: str) -> dict[str, Any]:
    """`a[b][0][c]=1&d=2` → {"a": {"b": [{"c": "1"}]}, "d": "2"}: Stripe's bracket notation.

    Values stay strings, as Stripe receives them. A level whose keys are 0..n-1 becomes a
    list, except under `metadata`, whose keys are the caller's own.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            raise ValueError(f"malformed parameter name {key!r}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"parameter {key!r} is both a value and an object")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise ValueError(f"parameter {key!r} is both a value and an object")
        node[path[-1]] = value
    return _listify(root, under_metadata=False)


def _listify(node: Any, under_metadata: bool) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, under_metadata=(k == "metadata")) for k, v in node.items()}
    if not under_metadata and converted and set(converted) == {str(i) for i in range(len(converted))}:
        return [converted[str(i)] for i in range(len(converted))]
    return converted


# -- errors in Stripe's shape -----------------------------------------------------------


class StripeErrorResponse(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        type_: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if param is not None:
            self.body["param"] = param
        if code is not None:
            self.body["code"] = code


def _invalid(message: str, param: str) -> StripeErrorResponse:
    return StripeErrorResponse(400, message, param=param, code="parameter_invalid")


def _missing(param: str) -> StripeErrorResponse:
    return StripeErrorResponse(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def _unknown(params: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise StripeErrorResponse(400, f"Received unknown parameter: {full}", param=full, code="parameter_unknown")


def _integer(value: Any, param: str, minimum: int | None = None) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise _invalid(f"Invalid integer: {value}", param)
    number = int(value)
    if minimum is not None and number < minimum:
        raise _invalid(f"This value must be greater than or equal to {minimum}.", param)
    return number


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise _invalid("Invalid object", param)
    if len(value) > 50:
        raise _invalid("You can specify up to 50 keys.", param)
    for key, item in value.items():
        if len(key) > 40:
            raise _invalid(f"Metadata key {key!r} is longer than 40 characters.", f"{param}[{key}]")
        if not isinstance(item, str) or len(item) > 500:
            raise _invalid(f"Invalid value for metadata key {key!r}.", f"{param}[{key}]")
    return dict(value)


# -- the stand-in -------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, Any]
    form: dict[str, Any]
    status: int = 0


@dataclass
class StripeStandIn:
    base_url: str = ""
    api_key_prefix: str = "sk_test_"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # idempotency key -> (method and path, form, status, body) of the first executed request
    idempotent: dict[str, tuple[str, dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures_left: int = 0
    failures_saved: bool = False
    failures_path: str | None = None
    drops_left: int = 0
    drop_seconds: float = 0.0
    drops_path: str | None = None
    _order: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what tests call ----------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.requests.clear()
            self.idempotent.clear()
            self.refunds.clear()
            self.failures_left = 0
            self.failures_saved = False
            self.failures_path = None
            self.drops_left = 0
            self.drops_path = None

    def fail_next(self, count: int = 1, *, saved: bool = False, path: str | None = None) -> None:
        """The next `count` requests answer 500.

        `saved=False`: before the endpoint runs (nothing stored, nothing saved under the
        key), so the client's retry may succeed. `saved=True`: while it runs, so Stripe has
        saved that 500 under the request's idempotency key and replays it to every retry
        with the key, telling the client `Stripe-Should-Retry: false`
        (docs.stripe.com/error-low-level#server-errors). `path`: only requests to it."""
        self.failures_left = count
        self.failures_saved = saved
        self.failures_path = path

    def drop_next(self, count: int, seconds: float, path: str | None = None) -> None:
        """The next `count` requests are carried out (and saved under their key), but their
        answer comes `seconds` late: a client that gives up sooner sees a timeout and
        cannot know the request took effect (docs.stripe.com/error-low-level#network-errors).
        A replay under the same key is answered late too. `path`: only requests to it."""
        self.drops_left = count
        self.drop_seconds = seconds
        self.drops_path = path

    def complete(self, session_id: str, payment_intent: str | None = None, *, paid: bool = True) -> dict[str, Any]:
        """The customer finished Checkout. Paid at once (a card), or with `paid=False`
        complete but unpaid, as a delayed method such as a bank debit leaves it until it
        settles (docs.stripe.com/payments/checkout/fulfill-orders#delayed-notification).
        A zero total needs no payment: `no_payment_required` and no PaymentIntent."""
        with self._lock:
            session = self.sessions[session_id]
            free = session["amount_total"] == 0
            session.update(
                status="complete",
                payment_status="no_payment_required" if free else ("paid" if paid else "unpaid"),
                payment_intent=None if free else (payment_intent or "pi_" + secrets.token_hex(12)),
                customer_details={"email": session["customer_email"], "name": None},
            )
            return dict(session)

    def settle(self, session_id: str, *, succeeded: bool = True) -> dict[str, Any]:
        """A delayed payment cleared (`paid`, then async_payment_succeeded) or failed (stays
        unpaid, then async_payment_failed)."""
        with self._lock:
            session = self.sessions[session_id]
            assert session["status"] == "complete" and session["payment_status"] == "unpaid"
            if succeeded:
                session["payment_status"] = "paid"
            return dict(session)

    def add_session(self, **fields: Any) -> dict[str, Any]:
        """Put a session straight into the store (cheap bulk data for paging tests)."""
        with self._lock:
            session = self._new_session(
                amount=fields.pop("amount_total", 1000),
                currency=fields.pop("currency", "eur"),
                email=fields.pop("customer_email", "buyer@example.com"),
                client_reference_id=fields.pop("client_reference_id", None),
                metadata=fields.pop("metadata", {}),
                success_url="https://shop.test/ok",
                cancel_url="https://shop.test/back",
                expires_at=fields.pop("expires_at", int(time.time()) + 3600),
            )
            session.update(fields)
            return dict(session)

    def recorded(self, method: str, path: str = SESSIONS_URL) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- internals ------------------------------------------------------------------------

    def _new_session(
        self,
        *,
        amount: int,
        currency: str,
        email: str | None,
        client_reference_id: str | None,
        metadata: dict[str, str],
        success_url: str,
        cancel_url: str,
        expires_at: int,
    ) -> dict[str, Any]:
        session_id = "cs_test_" + secrets.token_urlsafe(42).replace("-", "a").replace("_", "b")
        self._order += 1
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "created": int(time.time()),
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": email,
            "expires_at": expires_at,
            "livemode": False,
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": success_url,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "_order": self._order,  # insertion order, to break ties in `created`
        }
        self.sessions[session_id] = session
        return session

    @staticmethod
    def public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def authenticate(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if not auth:
            raise StripeErrorResponse(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth "
                "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if scheme != "Bearer" or not key.startswith(self.api_key_prefix) or len(key) <= len(self.api_key_prefix):
            raise StripeErrorResponse(401, f"Invalid API Key provided: {key[:8]}****")

    def create(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, self.public(self._validated_session(form))

    def idempotency_replay(self, key: str, endpoint: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The saved answer for this key, or None if the key is new."""
        saved = self.idempotent.get(key)
        if saved is None:
            return None
        first_endpoint, first_form, status, body = saved
        if first_endpoint != endpoint:
            raise StripeErrorResponse(
                400,
                f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{first_endpoint}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type_="idempotency_error",
            )
        if first_form != form:
            raise StripeErrorResponse(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with. Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
                type_="idempotency_error",
            )
        return status, body

    def _validated_session(self, form: dict[str, Any]) -> dict[str, Any]:
        _unknown(form, CREATE_PARAMS)
        mode = form.get("mode")
        if mode is None:
            raise _missing("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise _invalid("Invalid mode: must be one of payment, setup, or subscription", "mode")
        if mode != "payment":
            raise _invalid("This stand-in only takes one-off payments (mode=payment).", "mode")

        items = form.get("line_items")
        if items is None:
            raise _missing("line_items")
        if not isinstance(items, list) or not items:
            raise _invalid("Invalid array", "line_items")
        amount = 0
        currencies = set()
        for i, item in enumerate(items):
            where = f"line_items[{i}]"
            if not isinstance(item, dict):
                raise _invalid("Invalid object", where)
            _unknown(item, LINE_ITEM_PARAMS, where)
            if "quantity" not in item:
                raise _missing(f"{where}[quantity]")
            quantity = _integer(item["quantity"], f"{where}[quantity]", minimum=1)
            price = item.get("price_data")
            if price is None:
                raise _missing(f"{where}[price_data]")  # a `price` id is not supported here
            if not isinstance(price, dict):
                raise _invalid("Invalid object", f"{where}[price_data]")
            _unknown(price, PRICE_DATA_PARAMS, f"{where}[price_data]")
            currency = price.get("currency")
            if currency is None:
                raise _missing(f"{where}[price_data][currency]")
            if not re.fullmatch(r"[a-z]{3}", currency):
                raise _invalid(
                    f"Invalid currency: {currency}. Stripe currently supports these currencies: usd, eur, gbp, ...",
                    f"{where}[price_data][currency]",
                )
            if "unit_amount" not in price:
                raise _missing(f"{where}[price_data][unit_amount]")
            unit_amount = _integer(price["unit_amount"], f"{where}[price_data][unit_amount]", minimum=0)
            product = price.get("product_data")
            if not isinstance(product, dict):
                raise _missing(f"{where}[price_data][product_data]")
            _unknown(product, PRODUCT_DATA_PARAMS, f"{where}[price_data][product_data]")
            if not product.get("name"):
                raise _missing(f"{where}[price_data][product_data][name]")
            amount += unit_amount * quantity
            currencies.add(currency)
        if len(currencies) > 1:
            raise _invalid("All line items must use the same currency.", "line_items")
        currency = next(iter(currencies))
        minimum = MINIMUM_CHARGE.get(currency, 50)
        if 0 < amount < minimum:
            raise StripeErrorResponse(
                400,
                f"The Checkout Session's total amount due must add up to at least {minimum} "
                f"{currency} (in the currency's smallest unit).",
                param="line_items",
                code="amount_too_small",
            )

        email = form.get("customer_email")
        if email is not None and not EMAIL.match(email):
            # docs.stripe.com/error-codes#email-invalid
            raise StripeErrorResponse(
                400, f"Invalid email address: {email}", param="customer_email", code="email_invalid"
            )
        reference = form.get("client_reference_id")
        if reference is not None and not 1 <= len(reference) <= 200:
            raise _invalid("client_reference_id must be 1 to 200 characters.", "client_reference_id")
        metadata = _metadata(form.get("metadata"), "metadata")
        intent = form.get("payment_intent_data")
        if intent is not None:
            if not isinstance(intent, dict):
                raise _invalid("Invalid object", "payment_intent_data")
            _unknown(intent, PAYMENT_INTENT_DATA_PARAMS, "payment_intent_data")
            _metadata(intent.get("metadata"), "payment_intent_data[metadata]")

        for name in ("success_url", "cancel_url"):
            url = form.get(name)
            if url is None:
                raise _missing(name)
            if not re.match(r"https?://[^/\s]+", url):
                raise _invalid("Not a valid URL", name)
        if "{CHECKOUT_SESSION_ID}" not in form["success_url"]:
            # Not a Stripe rule but ours: the success page needs the session id.
            raise _invalid("success_url must contain the literal {CHECKOUT_SESSION_ID}", "success_url")

        now = int(time.time())
        expires_at = now + MAX_EXPIRY
        if "expires_at" in form:
            expires_at = _integer(form["expires_at"], "expires_at")
            if not now + MIN_EXPIRY <= expires_at <= now + MAX_EXPIRY:
                raise _invalid(
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours "
                    "from Checkout Session creation.",
                    "expires_at",
                )

        return self._new_session(
            amount=amount,
            currency=currencies.pop(),
            email=email,
            client_reference_id=reference,
            metadata=metadata,
            success_url=form["success_url"],
            cancel_url=form["cancel_url"],
            expires_at=expires_at,
        )

    def retrieve(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise StripeErrorResponse(
                404,
                f"No such checkout.session: '{session_id}'",
                param="session",
                code="resource_missing",
            )
        return self.public(session)

    def expire(self, session_id: str, form: dict[str, Any]) -> dict[str, Any]:
        _unknown(form, EXPIRE_PARAMS)
        self.retrieve(session_id)  # 404 when unknown
        session = self.sessions[session_id]
        if session["status"] != "open":
            # Stripe refuses with an invalid_request_error that names the status.
            raise StripeErrorResponse(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. '
                f"This Checkout Session has a status of `{session['status']}`.",
            )
        session["status"] = "expired"
        return self.public(session)

    def refund(self, form: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/refunds (docs.stripe.com/api/refunds/create): a refund of a succeeded
        payment, in full unless `amount` says less; never more than is left to refund."""
        _unknown(form, REFUND_PARAMS)
        intent = form.get("payment_intent")
        if intent is None:
            raise _missing("payment_intent")
        paid = [
            s for s in self.sessions.values() if s.get("payment_intent") == intent and s["payment_status"] == "paid"
        ]
        if not paid:
            if any(s.get("payment_intent") == intent for s in self.sessions.values()):
                raise StripeErrorResponse(
                    400, f"This PaymentIntent ({intent}) does not have a successful charge to refund.",
                    param="payment_intent",
                )  # fmt: skip
            raise StripeErrorResponse(
                404, f"No such payment_intent: '{intent}'", param="payment_intent", code="resource_missing"
            )
        charged = paid[0]["amount_total"]
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent)
        left = charged - refunded
        if left <= 0:
            # docs.stripe.com/error-codes#charge-already-refunded
            raise StripeErrorResponse(
                400, f"Charge for {intent} has already been refunded.", code="charge_already_refunded"
            )
        amount = _integer(form["amount"], "amount", minimum=1) if "amount" in form else left
        if amount > left:
            raise _invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})", "amount")
        reason = form.get("reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise _invalid("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer", "reason")
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": amount,
            "charge": "ch_" + intent.removeprefix("pi_"),
            "created": int(time.time()),
            "currency": paid[0]["currency"],
            "metadata": _metadata(form.get("metadata"), "metadata"),
            "payment_intent": intent,
            "reason": reason,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    def list_refunds(self, query: dict[str, Any]) -> dict[str, Any]:
        _unknown(query, REFUND_LIST_PARAMS)
        limit = _integer(query.get("limit", "10"), "limit")
        found = [
            r for r in reversed(self.refunds.values())
            if query.get("payment_intent") in (None, r["payment_intent"])
        ]  # fmt: skip
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": REFUNDS_URL}

    def list(self, query: dict[str, Any]) -> dict[str, Any]:
        _unknown(query, LIST_PARAMS)
        limit = _integer(query.get("limit", "10"), "limit")
        if not 1 <= limit <= MAX_PAGE:
            raise _invalid("This value must be between 1 and 100.", "limit")
        found = sorted(self.sessions.values(), key=lambda s: (s["created"], s["_order"]), reverse=True)
        status = query.get("status")
        if status is not None:
            if status not in ("open", "complete", "expired"):
                raise _invalid("Invalid status: must be one of open, complete, or expired", "status")
            found = [s for s in found if s["status"] == status]
        created = query.get("created")
        if isinstance(created, dict):
            tests = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__}
            _unknown(created, set(tests), "created")
            for op, value in created.items():
                bound = _integer(value, f"created[{op}]")
                found = [s for s in found if tests[op](s["created"], bound)]
        elif created is not None:
            bound = _integer(created, "created")
            found = [s for s in found if s["created"] == bound]
        after = query.get("starting_after")
        if after is not None:
            if after not in self.sessions:
                raise StripeErrorResponse(
                    404,
                    f"No such checkout.session: '{after}'",
                    param="starting_after",
                    code="resource_missing",
                )
            ids = [s["id"] for s in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        return {
            "object": "list",
            "data": [self.public(s) for s in found[:limit]],
            "has_more": len(found) > limit,
            "url": SESSIONS_URL,
        }


def standin_app(standin: StripeStandIn) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def record(request: Request) -> RecordedRequest:
        body = (await request.body()).decode()
        entry = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=parse_stripe_form(request.url.query),
            form=parse_stripe_form(body) if body else {},
        )
        standin.requests.append(entry)
        return entry

    def answer(
        entry: RecordedRequest,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        entry.status = status
        request_id = "req_" + secrets.token_hex(7)
        return JSONResponse(body, status_code=status, headers={"request-id": request_id, **(headers or {})})

    async def handle(request: Request, action: Any) -> JSONResponse:
        entry = await record(request)
        key = entry.headers.get("idempotency-key") if entry.method == "POST" else None
        endpoint = f"{entry.method} {entry.path}"
        late = 0.0
        try:
            with standin._lock:
                standin.authenticate(entry.headers)
                if standin.drops_left > 0 and standin.drops_path in (None, entry.path):
                    standin.drops_left -= 1
                    late = standin.drop_seconds
                replay = standin.idempotency_replay(key, endpoint, entry.form) if key else None
                if replay is not None:
                    status, body = replay
                    headers = {"idempotent-replayed": "true"}
                    if status >= 500:
                        headers["stripe-should-retry"] = "false"
                    replayed = answer(entry, status, body, headers)
                    if not late:
                        return replayed
                if replay is None and standin.failures_left > 0 and standin.failures_path in (None, entry.path):
                    standin.failures_left -= 1
                    failure = {
                        "error": {
                            "type": "api_error",
                            "message": "An unknown error occurred in the stand-in (as asked).",
                        }
                    }
                    if not standin.failures_saved:
                        return answer(entry, 500, failure)
                    # It failed while executing: saved, and a retry with the key only replays it.
                    if key:
                        standin.idempotent[key] = (endpoint, entry.form, 500, failure)
                    return answer(entry, 500, failure, {"stripe-should-retry": "false"})
                if replay is None:
                    try:
                        status, body = action(entry)
                    except StripeErrorResponse as exc:
                        # Refused by validation before the endpoint ran: nothing is saved.
                        return answer(entry, exc.status, {"error": exc.body})
                    if key:
                        standin.idempotent[key] = (endpoint, entry.form, status, body)
        except StripeErrorResponse as exc:
            return answer(entry, exc.status, {"error": exc.body})
        except ValueError as exc:
            return answer(entry, 400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
        if late:
            await asyncio.sleep(late)  # carried out and saved; the client has given up by now
            if replay is not None:
                return replayed
        return answer(entry, status, body)

    @app.post(SESSIONS_URL)
    async def create(request: Request) -> JSONResponse:
        return await handle(request, lambda entry: standin.create(entry.form))

    @app.post(REFUNDS_URL)
    async def create_refund(request: Request) -> JSONResponse:
        return await handle(request, lambda entry: (200, standin.refund(entry.form)))

    @app.get(REFUNDS_URL)
    async def list_refunds(request: Request) -> JSONResponse:
        return await handle(request, lambda entry: (200, standin.list_refunds(entry.query)))

    @app.get(SESSIONS_URL + "/{session_id}")
    async def retrieve(request: Request, session_id: str) -> JSONResponse:
        return await handle(request, lambda entry: (200, standin.retrieve(session_id)))

    @app.post(SESSIONS_URL + "/{session_id}/expire")
    async def expire(request: Request, session_id: str) -> JSONResponse:
        return await handle(request, lambda entry: (200, standin.expire(session_id, entry.form)))

    @app.get(SESSIONS_URL)
    async def list_sessions(request: Request) -> JSONResponse:
        return await handle(request, lambda entry: (200, standin.list(entry.query)))

    return app


# -- serving it ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[StripeStandIn]:
    """One stand-in server for the run, on 127.0.0.1 and a port the OS picked."""
    standin = StripeStandIn()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        standin_app(standin),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)  # off the main thread it installs no signal handlers
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="stripe-standin")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Stripe stand-in did not start")
        time.sleep(0.01)
    standin.base_url = f"http://127.0.0.1:{port}"
    try:
        yield standin
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def stripe_standin(stripe_server: StripeStandIn) -> Iterator[StripeStandIn]:
    """The stand-in, emptied for this test: `.base_url`, `.requests`, `.complete()`, ..."""
    stripe_server.reset()
    yield stripe_server
    stripe_server.reset()
