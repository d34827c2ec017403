"""Downloads: links (a random token in the email, only its hash stored), the download page
(`page`: looking is free, each download spends a use; `page_html`: how it looks, before and
after) and resending a link.
"""

__all__ = ["links", "page", "page_html", "resend"]
