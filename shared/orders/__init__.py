"""Orders: fulfilment (exactly one order per paid checkout), finishing (once every photo is
final), what an order's holder may see (`status`), order numbers, the images of an order, and
what the operator does to one (`operator`: list, show, refund, resend).
"""

__all__ = ["finishing", "fulfilment", "images", "numbers", "operator", "status"]
