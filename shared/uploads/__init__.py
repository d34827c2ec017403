"""Photos a customer uploads before paying: upload sessions and their file_uploads rows.

`sessions` is the repository, `intake` takes photos sent in the request (multipart),
`direct` takes photos sent straight to storage through signed upload URLs, `photo_checks`
knows a photo by its bytes, `throttle` limits uploads per client and per session.
"""

__all__ = ["direct", "intake", "photo_checks", "sessions", "throttle"]
