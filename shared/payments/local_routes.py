"""The local checkout page: what Stripe Checkout shows, for `restoreclick dev`.

`GET /dev/checkout/{id}` shows the amount and a Pay button; paying signs a
`checkout.session.completed` event with the webhook secret and hands it to `deliver`
(the dev server posts it to the real webhook endpoint), then sends the customer to the
success URL as Stripe would.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.core.errors import Conflict
from shared.payments.local_provider import LocalPayments
from shared.stripe_events.signatures import sign_webhook_payload

PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pay RestoreClick (local checkout)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f1ea; display: grid; place-items: center;
       min-height: 100vh; margin: 0; }}
main {{ background: white; padding: 2rem 2.5rem; border-radius: 12px; box-shadow: 0 4px 24px #0002; max-width: 26rem; }}
h1 {{ font-size: 1.2rem; margin-top: 0; }} .amount {{ font-size: 2rem; font-weight: 700; margin: .5rem 0 1rem; }}
button.secondary {{ background: white; color: #635bff; border: 1px solid #635bff; }}
button {{ background: #635bff; color: white; border: 0; border-radius: 6px; padding: .8rem 1.6rem;
          font-size: 1rem; cursor: pointer; width: 100%; }}
.note {{ color: #666; font-size: .85rem; }} a {{ color: #635bff; }}
</style></head><body><main>
<p class="note">Local checkout: a stand-in for Stripe. No money moves.</p>
<h1>Photo restoration: {count} photo(s)</h1>
<div class="amount" id="amount">{amount}</div>
<p>Receipt to <strong>{email}</strong></p>
{action}
<p class="note"><a href="{cancel_url}" id="cancel">Cancel and go back</a></p>
</main></body></html>"""


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def local_checkout_router(
    provider: LocalPayments, webhook_secret: str, deliver: Callable[[bytes, str], int]
) -> APIRouter:
    router = APIRouter(tags=["local checkout"], include_in_schema=False)

    @router.get("/dev/checkout/{session_id}", response_class=HTMLResponse)
    def checkout_page(session_id: str) -> HTMLResponse:
        session = provider.session(session_id)
        here = f"/dev/checkout/{html.escape(session_id)}"
        if session["status"] == "open":
            action = (
                f'<form method="post" action="{here}/pay">'
                '<button type="submit" id="pay">Pay by card</button></form>'
                # A delayed payment method, as SEPA or ACH debits are on Stripe: the session
                # completes unpaid and the money clears (or bounces) later.
                f'<form method="post" action="{here}/pay?method=bank_debit" style="margin-top:.6rem">'
                '<button type="submit" id="pay-debit" class="secondary">Pay by bank debit</button></form>'
            )
        elif session["status"] == "complete" and session["payment_status"] == "unpaid":
            action = (
                "<p><strong>Your bank debit is clearing.</strong> Stand-in controls:</p>"
                f'<form method="post" action="{here}/settle?outcome=succeeded">'
                '<button type="submit" id="debit-clears">The debit clears</button></form>'
                f'<form method="post" action="{here}/settle?outcome=failed" style="margin-top:.6rem">'
                '<button type="submit" id="debit-fails" class="secondary">The debit bounces</button></form>'
            )
        else:
            action = f"<p><strong>This checkout is {html.escape(session['status'])}.</strong></p>"
        body = PAGE.format(
            count=session["line_items"]["quantity"],
            amount=_money(session["amount_total"], session["currency"]),
            email=html.escape(session["customer_email"]),
            action=action,
            cancel_url=html.escape(session["cancel_url"]),
        )
        return HTMLResponse(body, headers={"content-security-policy": PAGE_POLICY})

    def send(event: dict[str, object]) -> None:
        payload = json.dumps(event).encode()
        status = deliver(payload, sign_webhook_payload(payload, webhook_secret))
        if status >= 300:
            raise Conflict(f"the webhook refused the payment event ({status})", code="webhook_refused")

    @router.post("/dev/checkout/{session_id}/pay")
    def pay(session_id: str, method: Literal["card", "bank_debit"] = "card") -> Response:
        session = provider.session(session_id)
        already_paid = session["status"] == "complete"
        event = provider.pay(session_id, method)
        if not already_paid:
            send(event)
        success = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return RedirectResponse(success, status_code=303)

    @router.post("/dev/checkout/{session_id}/settle")
    def settle(session_id: str, outcome: Literal["succeeded", "failed"]) -> Response:
        """The bank debit's outcome arrives: Stripe's async payment event, delivered."""
        send(provider.settle(session_id, succeeded=outcome == "succeeded"))
        return RedirectResponse(f"/dev/checkout/{session_id}", status_code=303)

    return router
