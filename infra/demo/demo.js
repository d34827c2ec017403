// RestoreClick demo page: the customer journey against the shop's own API, no build step.
// Served as a file (not inline) because the page's Content-Security-Policy allows only
// scripts from this origin.
"use strict";

(() => {
  const SESSION_KEY = "restoreclick.upload_session_id";
  const EMAIL_KEY = "restoreclick.email";
  const NAME_KEY = "restoreclick.name";
  const CHECKOUT_KEY = "restoreclick.checkout_session_id"; // the payment page we sent the customer to
  const FINISHED = new Set([
    "completed", "partially_completed", "failed", "refunded", "disputed", "checkout_expired", "payment_failed",
  ]);
  const POLL_MS = 1500;
  const PHOTO_LABELS = {
    waiting: "Waiting", restoring: "Restoring…", restored: "Restored", failed: "Could not restore",
    cancelled: "Cancelled",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    error: $("error"), notice: $("notice"),
    shopView: $("shop-view"), statusView: $("status-view"),
    dropzone: $("dropzone"), fileInput: $("file-input"), sizeLimit: $("size-limit"),
    photoList: $("photo-list"), summary: $("summary"),
    form: $("checkout-form"), email: $("email"), name: $("name"), pay: $("pay-button"),
    statusTitle: $("status-title"), orderLine: $("order-line"), statusText: $("status-text"),
    progress: $("status-progress"),
    statusPhotos: $("status-photos"), ready: $("ready"),
  };

  // Overwritten by /demo/settings.json: what the server will accept and charge.
  let config = {
    price_per_photo: null, currency: "usd",
    upload_max_bytes: 25 * 1024 * 1024, upload_request_max_bytes: 4 * 1024 * 1024,
  };
  let uploadSessionId = sessionStorage.getItem(SESSION_KEY);
  let sessionFrozen = false; // a checkout is open: the server refuses changes until it ends
  const photos = new Map(); // photo id -> {element, previewUrl}
  let uploadsInFlight = 0;
  let uploadChain = Promise.resolve(); // one upload at a time: the first one creates the session

  class ApiError extends Error {
    constructor(message, code, status, details) {
      super(message);
      this.code = code;
      this.status = status;
      this.details = details || [];
    }

    // Validation details name the request field; the page can say it in its own words.
    concerns(field) {
      return Array.isArray(this.details) && this.details.some((detail) => detail.field === field);
    }
  }

  // -- talking to the shop ---------------------------------------------------------------

  async function errorFrom(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) { /* not JSON: fall back to the status line */ }
    const error = body && body.error;
    const message = error && error.message ? error.message : `Something went wrong (HTTP ${response.status}).`;
    return new ApiError(message, (error && error.code) || "http_error", response.status, error && error.details);
  }

  async function api(method, path, { json, form } = {}) {
    const init = { method, headers: { accept: "application/json" } };
    if (json !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form) {
      init.body = form;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError("We couldn't reach RestoreClick. Check your connection and try again.", "network_error", 0);
    }
    if (!response.ok) throw await errorFrom(response);
    return response.status === 204 ? null : response.json();
  }

  // -- messages --------------------------------------------------------------------------

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = false;
  }

  function clearError() {
    el.error.hidden = true;
    el.error.textContent = "";
  }

  function showNotice(message) {
    el.notice.textContent = message;
    el.notice.hidden = !message;
  }

  function money(minorUnits) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: config.currency.toUpperCase() })
        .format(minorUnits / 100);
    } catch (_) {
      return `${(minorUnits / 100).toFixed(2)} ${config.currency.toUpperCase()}`;
    }
  }

  function megabytes(bytes) {
    return `${Math.round(bytes / (1024 * 1024))} MB`;
  }

  // -- the upload session ----------------------------------------------------------------

  function rememberSession(id) {
    uploadSessionId = id;
    sessionStorage.setItem(SESSION_KEY, id);
  }

  function forgetSession() {
    uploadSessionId = null;
    sessionStorage.removeItem(SESSION_KEY);
    sessionStorage.removeItem(CHECKOUT_KEY);
  }

  function updateSummary() {
    const count = photos.size;
    if (count === 0) {
      el.summary.textContent = uploadsInFlight ? "Uploading…" : "";
    } else {
      const noun = count === 1 ? "photo" : "photos";
      const price = config.price_per_photo === null ? "" : ` · ${money(count * config.price_per_photo)}`;
      el.summary.textContent = `${count} ${noun}${price}${uploadsInFlight ? " · uploading…" : ""}`;
    }
    el.pay.disabled = count === 0 || uploadsInFlight > 0;
    el.fileInput.disabled = sessionFrozen;
    el.dropzone.classList.toggle("is-disabled", sessionFrozen);
    for (const { element } of photos.values()) {
      element.querySelector(".remove").disabled = sessionFrozen;
    }
  }

  function photoCard(filename, previewUrl) {
    const item = document.createElement("li");
    item.className = "photo is-uploading";
    if (previewUrl) {
      const img = document.createElement("img");
      img.src = previewUrl;
      img.alt = `Preview of ${filename}`;
      item.append(img);
    } else {
      const placeholder = document.createElement("div");
      placeholder.className = "placeholder";
      placeholder.setAttribute("aria-hidden", "true");
      placeholder.textContent = "No preview";
      item.append(placeholder);
    }
    const meta = document.createElement("div");
    meta.className = "photo-meta";
    const name = document.createElement("span");
    name.className = "photo-name";
    name.textContent = filename;
    name.title = filename;
    const state = document.createElement("span");
    state.className = "photo-state";
    state.textContent = "Uploading…";
    meta.append(name, state);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.disabled = true;
    remove.setAttribute("aria-label", `Remove ${filename}`);
    remove.textContent = "×";
    item.append(meta, remove);
    el.photoList.append(item);
    return item;
  }

  function markReady(item, photo, previewUrl) {
    item.classList.remove("is-uploading");
    item.classList.add("is-ready");
    item.dataset.photoId = photo.id;
    item.querySelector(".photo-state").textContent = "Ready";
    const remove = item.querySelector(".remove");
    remove.disabled = sessionFrozen;
    remove.addEventListener("click", () => removePhoto(photo.id, item));
    photos.set(photo.id, { element: item, previewUrl });
  }

  async function uploadInRequest(file) {
    const form = new FormData();
    form.append("files", file, file.name);
    if (uploadSessionId) form.append("upload_session_id", uploadSessionId);
    const session = await api("POST", "/api/uploads", { form });
    rememberSession(session.upload_session_id);
    return session.photos[0];
  }

  function expiresSoon(slot) {
    return Boolean(slot.upload_expires_at) && Date.parse(slot.upload_expires_at) - Date.now() < 10000;
  }

  function renewUploadUrl(slot) {
    return api("POST", `/api/uploads/direct/${slot.id}/url`);
  }

  // PUT: the bytes as the body. POST (an S3 POST policy): the signed fields, then the file.
  async function sendToStorage(target, file) {
    let init = { method: target.upload_method, headers: target.upload_headers, body: file };
    if (target.upload_method === "POST") {
      const form = new FormData();
      for (const [name, value] of Object.entries(target.upload_fields || {})) form.append(name, value);
      form.append("file", file, file.name);
      init = { method: "POST", body: form };
    }
    try {
      return await fetch(target.upload_url, init);
    } catch (_) {
      throw new ApiError("The upload was interrupted. Please try again.", "network_error", 0);
    }
  }

  // Too large for one request: announce it, send it to the signed URL, ask the shop to check it.
  async function uploadDirect(file) {
    const announced = await api("POST", "/api/uploads/direct", {
      json: {
        upload_session_id: uploadSessionId || undefined,
        files: [{ filename: file.name, size: file.size, content_type: file.type || "application/octet-stream" }],
      },
    });
    rememberSession(announced.upload_session_id);
    const slot = announced.files[0];
    try {
      // The storage server decides how long a URL lives (60 s on a self-hosted Supabase):
      // one that is about to end, or that was refused as expired, is asked for again.
      let target = expiresSoon(slot) ? await renewUploadUrl(slot) : slot;
      let stored = await sendToStorage(target, file);
      if (stored.status === 400 || stored.status === 403) {
        target = await renewUploadUrl(slot);
        stored = await sendToStorage(target, file);
      }
      if (!stored.ok) throw await errorFrom(stored);
      return await api("POST", `/api/uploads/direct/${slot.id}/complete`);
    } catch (error) {
      // A photo left pending would block checkout: take it out of the session again.
      api("DELETE", `/api/uploads/${uploadSessionId}/files/${slot.id}`).catch(() => {});
      throw error;
    }
  }

  async function uploadOne(file, item, previewUrl) {
    try {
      const tooLargeForRequest = file.size > config.upload_request_max_bytes;
      const photo = tooLargeForRequest ? await uploadDirect(file) : await uploadInRequest(file);
      markReady(item, photo, previewUrl);
    } catch (error) {
      item.remove();
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      const message = error.message.includes(file.name) ? error.message : `${file.name}: ${error.message}`;
      showError(message);
    } finally {
      uploadsInFlight -= 1;
      updateSummary();
    }
  }

  function addFiles(fileList) {
    const files = Array.from(fileList || []);
    if (files.length === 0) return;
    if (sessionFrozen) {
      showError("A checkout is open for these photos; pay for them, or wait for it to expire to change them.");
      return;
    }
    clearError();
    for (const file of files) {
      if (file.size > config.upload_max_bytes) {
        showError(`${file.name} is larger than ${megabytes(config.upload_max_bytes)}; please pick a smaller file.`);
        continue;
      }
      const previewUrl = URL.createObjectURL(file);
      const item = photoCard(file.name, previewUrl);
      uploadsInFlight += 1;
      uploadChain = uploadChain.then(() => uploadOne(file, item, previewUrl));
    }
    updateSummary();
  }

  async function removePhoto(photoId, item) {
    const button = item.querySelector(".remove");
    button.disabled = true;
    clearError();
    try {
      await api("DELETE", `/api/uploads/${uploadSessionId}/files/${photoId}`);
      item.remove();
      const entry = photos.get(photoId);
      if (entry && entry.previewUrl) URL.revokeObjectURL(entry.previewUrl);
      photos.delete(photoId);
    } catch (error) {
      button.disabled = false;
      showError(error.message);
    }
    updateSummary();
  }

  // Back from a cancelled checkout, or a reload: show what the session holds.
  async function restoreSession(cancelled) {
    let session;
    try {
      session = await api("GET", `/api/uploads/${uploadSessionId}`);
    } catch (error) {
      forgetSession();
      if (error.status === 404) {
        if (cancelled) showError("We couldn't find those photos any more; please add them again.");
      } else {
        showError(error.message);
      }
      return;
    }
    const over = session.status === "paid" || session.status === "expired";
    if (over || new Date(session.expires_at) <= new Date()) {
      forgetSession();
      if (cancelled) showNotice("Those photos are no longer waiting for checkout; please add them again.");
      return;
    }
    sessionFrozen = session.status === "checkout";
    for (const photo of session.photos) {
      const item = photoCard(photo.filename, null);
      if (photo.status === "uploaded") {
        markReady(item, photo, null);
      } else {
        // Its upload was interrupted: it blocks checkout until it is removed.
        item.querySelector(".photo-state").textContent = "Upload not finished: remove it";
        const remove = item.querySelector(".remove");
        remove.disabled = sessionFrozen;
        remove.addEventListener("click", () => removePhoto(photo.id, item));
      }
    }
    el.email.value = sessionStorage.getItem(EMAIL_KEY) || "";
    el.name.value = sessionStorage.getItem(NAME_KEY) || "";
    const frozenNote = sessionFrozen
      ? "Their checkout stays open for a while, so you can pay again with the same email; " +
        "changing the photos waits until it expires."
      : "";
    if (cancelled) {
      showNotice(`Checkout cancelled: nothing was charged. Your photos are still here. ${frozenNote}`.trim());
    } else if (sessionFrozen) {
      showNotice(`Welcome back: your photos are waiting for checkout. ${frozenNote}`);
    }
    updateSummary();
  }

  // -- paying ----------------------------------------------------------------------------

  async function startCheckout(event) {
    event.preventDefault();
    clearError();
    const email = el.email.value.trim();
    el.email.setAttribute("aria-invalid", "false");
    if (!email || !el.email.checkValidity()) {
      el.email.setAttribute("aria-invalid", "true");
      showError("Please enter the email address where we should send your photos.");
      el.email.focus();
      return;
    }
    const name = el.name.value.trim();
    const label = el.pay.textContent;
    el.pay.disabled = true;
    el.pay.textContent = "Opening checkout…";
    try {
      const checkout = await api("POST", "/api/checkout", {
        json: { upload_session_id: uploadSessionId, email, name: name || undefined },
      });
      sessionStorage.setItem(EMAIL_KEY, email);
      sessionStorage.setItem(NAME_KEY, name);
      sessionStorage.setItem(CHECKOUT_KEY, checkout.checkout_session_id);
      window.location.assign(checkout.checkout_url);
    } catch (error) {
      if (error.concerns("email")) {
        el.email.setAttribute("aria-invalid", "true");
        showError("Please check your email address: it should look like you@example.com.");
        el.email.focus();
      } else {
        showError(error.message);
      }
      el.pay.textContent = label;
      updateSummary();
    }
  }

  // Back from the payment page by its cancel link: end that page (it can no longer be paid),
  // so the photos can change. Answers "paid" when the customer had paid it after all.
  async function cancelCheckout(checkoutSessionId) {
    sessionStorage.removeItem(CHECKOUT_KEY);
    try {
      await api("POST", `/api/checkout/${encodeURIComponent(checkoutSessionId)}/cancel`);
      return "cancelled";
    } catch (error) {
      // Paid after all, or paid by a bank debit still clearing: follow that payment.
      if (error.code === "already_paid" || error.code === "payment_pending") return "paid";
      if (error.status !== 404) showError(error.message);
      return null;
    }
  }

  // -- after paying: progress ------------------------------------------------------------

  function statusSentence(status) {
    const done = status.photos_done;
    const total = status.photos_total;
    switch (status.status) {
      case "confirming_payment":
        return "Confirming your payment…";
      case "payment_pending":
      case "checkout_expired":
      case "payment_failed":
        return status.message;
      case "completed":
        return total === 1 ? "All done: your photo is restored." : `All done: all ${total} photos are restored.`;
      case "partially_completed":
        return `${done} of ${total} photos restored; we couldn't restore the others and won't charge for them.`;
      case "failed":
        return "We're sorry: we couldn't restore your photos. We won't charge you for them.";
      case "refunded":
      case "disputed":
        return status.message || "This order was refunded.";
      default:
        return `Restoring your photos: ${done} of ${total} done.`;
    }
  }

  // Each photo's preview as it finishes: the original while it is being restored, the
  // restored one once it is. An image already shown is kept, not fetched again: each poll
  // signs fresh URLs, and the picture behind them has not changed.
  const shownPreviews = new Map(); // photo id -> {side, img}
  function previewOf(photo) {
    const preview = photo.preview || {};
    const side = preview.after ? "after" : preview.before ? "before" : null;
    if (!side) return null;
    const shown = shownPreviews.get(photo.id);
    if (shown && shown.side === side) return shown.img;
    const img = document.createElement("img");
    img.className = `status-preview status-preview-${side}`;
    img.src = preview[side].url;
    img.width = preview[side].width;
    img.height = preview[side].height;
    img.alt = side === "after" ? `${photo.filename}, restored` : `${photo.filename}, being restored`;
    shownPreviews.set(photo.id, { side, img });
    return img;
  }

  function renderStatus(status) {
    el.statusView.dataset.status = status.status;
    if (status.status === "completed" || status.status === "partially_completed") {
      el.statusTitle.textContent = "Your photos are ready";
    } else if (FINISHED.has(status.status)) {
      el.statusTitle.textContent = "We're sorry";
    }
    el.orderLine.textContent = status.order_number ? `Order ${status.order_number}` : "";
    el.statusText.textContent = statusSentence(status);
    el.progress.max = Math.max(status.photos_total, 1);
    el.progress.value = status.photos_done;
    el.statusPhotos.replaceChildren(
      ...status.photos.map((photo) => {
        const item = document.createElement("li");
        item.dataset.photoId = photo.id;
        item.dataset.status = photo.status;
        const thumb = previewOf(photo);
        const name = document.createElement("span");
        name.className = "status-name";
        name.textContent = photo.filename;
        const pill = document.createElement("span");
        pill.className = `pill pill-${photo.status}`;
        pill.textContent = PHOTO_LABELS[photo.status] || photo.status;
        if (thumb) item.append(thumb);
        item.append(name, pill);
        return item;
      }),
    );
    el.ready.hidden = !(status.download && status.download.ready);
  }

  async function followOrder(ref) {
    el.shopView.hidden = true;
    el.statusView.hidden = false;
    forgetSession(); // paid: the next visit starts a new session
    const poll = async () => {
      try {
        const status = await api("GET", `/api/restoration/status/${encodeURIComponent(ref)}`);
        clearError();
        renderStatus(status);
        if (!FINISHED.has(status.status)) setTimeout(poll, POLL_MS);
      } catch (error) {
        showError(error.message);
        if (error.status !== 404) setTimeout(poll, POLL_MS * 3); // a hiccup: keep watching
      }
    };
    await poll();
  }

  // -- wiring ----------------------------------------------------------------------------

  function wireDragAndDrop() {
    let depth = 0; // dragenter/dragleave fire for every child the pointer crosses
    el.dropzone.addEventListener("dragenter", (event) => {
      event.preventDefault();
      depth += 1;
      el.dropzone.classList.add("is-dragging");
    });
    el.dropzone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    el.dropzone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) el.dropzone.classList.remove("is-dragging");
    });
    el.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      el.dropzone.classList.remove("is-dragging");
      addFiles(event.dataTransfer.files);
    });
    // A photo dropped next to the zone must not replace the page with the image.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  async function loadConfig() {
    try {
      config = { ...config, ...(await api("GET", "/demo/settings.json")) };
      el.sizeLimit.textContent = `up to ${megabytes(config.upload_max_bytes)}`;
    } catch (_) { /* the defaults above still work */ }
  }

  async function start() {
    el.fileInput.addEventListener("change", () => {
      addFiles(el.fileInput.files);
      el.fileInput.value = ""; // picking the same file again still fires `change`
    });
    el.form.addEventListener("submit", startCheckout);
    // Back from the checkout page out of the back/forward cache: the button must work again.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) {
        el.pay.textContent = "Pay and restore";
        updateSummary();
      }
    });
    wireDragAndDrop();
    await loadConfig();

    const params = new URLSearchParams(window.location.search);
    const checkoutSessionId = params.get("checkout_session_id");
    if (checkoutSessionId) {
      await followOrder(checkoutSessionId);
      document.body.dataset.ready = "true";
      return;
    }
    const cancelled = params.get("checkout") === "cancelled";
    if (cancelled) {
      // The cart is the one this browser remembers (a cancel URL may also name it).
      if (params.get("upload_session_id")) rememberSession(params.get("upload_session_id"));
      // A reload should not announce the cancellation again.
      window.history.replaceState(null, "", "/");
      const startedCheckout = sessionStorage.getItem(CHECKOUT_KEY);
      if (startedCheckout && (await cancelCheckout(startedCheckout)) === "paid") {
        await followOrder(startedCheckout);
        document.body.dataset.ready = "true";
        return;
      }
    }
    if (uploadSessionId) await restoreSession(cancelled);
    updateSummary();
    document.body.dataset.ready = "true";
  }

  start();
})();
