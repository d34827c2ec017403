"""Orders: fulfilment (exactly one order per paid checkout), finishing (once every photo is
final), what an order"s holder may see (`status`), order numbers, and the images of an order.
"""

__all__ = ["finishing", "fulfilment", "images", "numbers", "status"]
