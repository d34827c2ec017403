"""Privacy: photos and addresses are personal data, kept no longer than needed.

`retention` deletes the photos of orders finished more than PHOTO_RETENTION_DAYS ago (a
cleanup step); `erasure` removes one person from the shop on request, keeping only what
accounting needs (`restoreclick customers erase`).
"""

__all__ = ["erasure", "retention"]
