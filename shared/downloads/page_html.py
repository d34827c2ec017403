"""The download page as HTML: each photo restored beside its original, before anything is
downloaded.

It works without JavaScript: a checkbox (styled as a button) swaps the restored preview
for the original with CSS alone. With scripts on, the one inline script (allowed by its
hash, nothing else runs) turns it into a before/after slider. Images come only from the
origin that signed the previews, and nothing on the page spends a download: only the
buttons, which POST, do.
"""

from __future__ import annotations

import base64
import hashlib
import html

from shared.downloads.page import DownloadPage, PagePhoto
from shared.orders.images import SignedPreview

# Plain ES2015 on purpose: no build step, nothing fetched. The slider's position is a CSS
# variable that clips the original laid over the restored photo.
SLIDER_SCRIPT = (
    'document.documentElement.className+=" js";'
    'document.querySelectorAll(".compare").forEach(function(box){'
    'var slider=box.parentNode.querySelector(".slider");if(!slider)return;'
    'function set(){box.style.setProperty("--pos",slider.value+"%")}'
    'slider.addEventListener("input",set);set()});'
)
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SLIDER_SCRIPT.encode()).digest()).decode()

STYLE = (
    "*{box-sizing:border-box}"
    "body{font-family:Georgia,serif;max-width:48em;margin:0 auto;padding:1em;color:#222;line-height:1.4}"
    "h1{font-size:1.6em;margin:.5em 0}"
    ".photos{list-style:none;padding:0;margin:0}"
    ".photo{margin:0 0 2em;padding:0 0 1.5em;border-bottom:1px solid #ddd}"
    ".name{overflow-wrap:anywhere;margin:.5em 0}"
    ".compare{position:relative;--pos:50%;background:#f3f1ec;overflow:hidden}"
    ".compare img{display:block;width:100%;height:auto}"
    ".compare .before{position:absolute;top:0;left:0;height:100%;object-fit:contain;background:#f3f1ec;"
    "visibility:hidden}"
    ".show-before{position:absolute;opacity:0;width:1px;height:1px}"
    ".show-before:checked~.compare .before{visibility:visible}"
    ".show-before:focus-visible~.toggle{outline:2px solid #2f6f4e}"
    ".toggle{display:inline-block;margin:.5em 0;padding:.4em .9em;border:1px solid #2f6f4e;border-radius:6px;"
    "color:#2f6f4e;cursor:pointer}"
    ".toggle .on,.show-before:checked~.toggle .off{display:none}"
    ".show-before:checked~.toggle .on{display:inline}"
    ".tag{position:absolute;top:.5em;padding:.1em .5em;background:rgba(0,0,0,.6);color:#fff;font-size:.8em}"
    ".tag-after{right:.5em}.tag-before{left:.5em;visibility:hidden}"
    ".show-before:checked~.compare .tag-before{visibility:visible}"
    ".show-before:checked~.compare .tag-after{visibility:hidden}"
    ".slider{display:none;width:100%;margin:.5em 0}"
    ".js .slider{display:block}.js .toggle,.js .show-before{display:none}"
    ".js .compare .before,.js .compare .tag-before{visibility:visible}"
    ".js .compare .before{clip-path:inset(0 calc(100% - var(--pos)) 0 0)}"
    ".note{color:#7a4b00}"
    "form{margin:.5em 0}"
    "button{font:inherit;padding:.5em 1em;border-radius:6px;border:0;background:#2f6f4e;color:#fff;cursor:pointer}"
    ".zip{font-size:1.1em}"
)


def page_policy(page: DownloadPage) -> str:
    """A strict policy: images only from where the previews are signed, only our script."""
    images = " ".join(page.preview_origins) or "'none'"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'; "
        "form-action 'self' *; frame-ancestors 'none'; base-uri 'none'"
    )


def _img(preview: SignedPreview, css_class: str, alt: str) -> str:
    return (
        f"<img class='{css_class}' src='{html.escape(preview.url)}' width='{preview.width}' "
        f"height='{preview.height}' alt='{html.escape(alt)}' decoding='async'>"
    )


def _download_button(action: str, photo: PagePhoto) -> str:
    return (
        f"<form method='post' action='{action}'><input type='hidden' name='image_id' value='{photo.id}'>"
        f"<button class='download-one'>Download</button></form>"
    )


def _photo(action: str, number: int, photo: PagePhoto) -> str:
    name = photo.original_filename
    parts = [f"<li class='photo' id='photo-{number}' data-state='{photo.state}'>"]
    if photo.state == "restored" and photo.after and photo.before:
        parts += [
            f"<input type='checkbox' class='show-before' id='before-{number}'>",
            "<div class='compare'>",
            _img(photo.after, "after", f"{name}, restored"),
            _img(photo.before, "before", f"{name}, as you sent it"),
            "<span class='tag tag-before'>Before</span><span class='tag tag-after'>After</span></div>",
            f"<label class='toggle' for='before-{number}'><span class='off'>Show the original</span>"
            "<span class='on'>Show the restored photo</span></label>",
            f"<input type='range' class='slider' min='0' max='100' value='50' "
            f"aria-label='Slide to compare {html.escape(name)} with its original'>",
        ]
    elif photo.state == "restored" and photo.after:
        parts.append(f"<div class='compare'>{_img(photo.after, 'after', f'{name}, restored')}</div>")
    elif photo.before:
        parts.append(f"<div class='compare'>{_img(photo.before, 'original', f'{name}, as you sent it')}</div>")
    # The restored photo's name is the file a download gives.
    parts.append(f"<p class='name'>{html.escape(photo.filename or name)}</p>")
    if photo.state == "restored":
        parts.append(_download_button(action, photo))
    elif photo.state == "not_restored":
        parts.append(
            "<p class='note'>We could not restore this photo; this is the original you sent. "
            "Reply to our email and we will refund it.</p>"
        )
    else:
        parts.append("<p class='note'>This photo is still being restored.</p>")
    return "".join(parts) + "</li>"


def _zip_buttons(action: str, page: DownloadPage) -> str:
    if not page.zip_available:
        return ""
    if page.zip_parts == 1:
        return (
            f"<form method='post' action='{action}'><button class='zip' id='download-zip'>"
            "Download all (ZIP)</button></form>"
        )
    # Too large for one object in storage: the ZIP comes in parts, each a download.
    return "<p>All photos, as ZIPs:</p>" + "".join(
        f"<form method='post' action='{action}'><input type='hidden' name='part' value='{n}'>"
        f"<button class='zip' id='download-zip-{n}'>Part {n} of {page.zip_parts}</button></form>"
        for n in range(1, page.zip_parts + 1)
    )


def render_page(token: str, page: DownloadPage) -> str:
    action = f"/api/download/{html.escape(token)}"
    photos = "".join(_photo(action, n, p) for n, p in enumerate(page.photos, start=1))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><meta name='robots' content='noindex'>"
        f"<title>Your restored photos</title><style>{STYLE}</style></head><body>"
        f"<h1>Order {html.escape(page.order_number)}</h1>"
        "<p>Compare each photo with its original, then download. Looking is free: only a download "
        "counts against the link.</p>"
        f"{_zip_buttons(action, page)}<ul class='photos'>{photos}</ul>"
        f"<p>This link works {page.uses_left} more time(s), until {page.expires_at:%d %B %Y}.</p>"
        f"<script>{SLIDER_SCRIPT}</script></body></html>"
    )
