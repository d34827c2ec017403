"""Photos a customer uploads before paying: upload sessions and their file_uploads rows.

`sessions` is the repository, `intake` takes photos sent in the request (multipart),
`direct` takes photos sent straight to storage through signed upload URLs.
"""
