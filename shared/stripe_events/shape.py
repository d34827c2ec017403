"""The shape a verified Stripe event must have before anything reads or records it.

A good signature says who sent the bytes, not that they hold what our code reads: a
payload signed with our secret by a test, a replay tool or a bug could carry a list where
an id belongs. Checking here, before the event is recorded, turns that into a 400 that
names the field and writes nothing, instead of a 500 halfway through fulfilment (or a
stored refund whose amount a later query cannot read as a number).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from shared.core.errors import BadRequest

# Amounts are read back from stored events as bigint.
Amount = Annotated[StrictInt, Field(ge=0, lt=2**63)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class EventEnvelope(_Shape):
    id: Annotated[StrictStr, Field(pattern=r"^evt_")]
    type: StrictStr
    data: dict[str, Any]


class CheckoutSessionObject(_Shape):
    id: Annotated[StrictStr, Field(min_length=1)]


class PaymentReversalObject(_Shape):
    """A charge (refund) or a dispute: what payment it reverses, and how much."""

    payment_intent: StrictStr | None = None
    amount: Amount = 0
    amount_refunded: Amount = 0


OBJECT_SHAPES: dict[str, type[_Shape]] = {
    "checkout.session.completed": CheckoutSessionObject,
    "checkout.session.async_payment_succeeded": CheckoutSessionObject,
    "checkout.session.async_payment_failed": CheckoutSessionObject,
    "checkout.session.expired": CheckoutSessionObject,
    "charge.refunded": PaymentReversalObject,
    "charge.dispute.created": PaymentReversalObject,
}


def check_stripe_event(event: Any) -> dict[str, Any]:
    """`event` if it has an event's shape and its object the fields its type needs;
    otherwise BadRequest naming the first field that is wrong."""
    _validate(EventEnvelope, event, "")
    obj = event["data"].get("object")
    if not isinstance(obj, dict):
        raise BadRequest("the payload is not a Stripe event: data.object must be an object", code="malformed_payload")
    shape = OBJECT_SHAPES.get(event["type"])
    if shape is not None:
        _validate(shape, obj, "data.object.")
    return without_nul(event)  # type: ignore[no-any-return]  # EventEnvelope accepted it: a JSON object


def without_nul(value: Any) -> Any:
    """`value` with U+0000 taken out of every string, keys included.

    PostgreSQL's text cannot hold the NUL character, and jsonb refuses the `\\u0000` escape,
    so an event carrying one (a customer's name typed with it, which Stripe keeps as given)
    could never be recorded: every delivery would fail and Stripe would retry it for days,
    holding up the order. No id, amount or name we read means anything by a NUL.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _validate(shape: type[_Shape], value: Any, where: str) -> None:
    try:
        shape.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = where + ".".join(str(part) for part in first["loc"])
        raise BadRequest(
            f"the payload is not a Stripe event we can read: {field or 'the event'}: {first['msg']}",
            code="malformed_payload",
        ) from None
