"""Downloads: links (a random token in the email, only its hash stored), the download page
(looking is free, each download spends a use) and resending a link.
"""

__all__ = ["links", "page", "resend"]
