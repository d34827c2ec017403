"""Checkout: pricing an upload session"s photos and opening or cancelling its payment page
(`checkouts`), and settling checkouts whose provider event never came (`settling`, the
`checkouts` scheduled run).
"""

__all__ = ["checkouts", "settling"]
