// The API with the page's session: same-origin cookie, the CSRF token from the page's <meta>.
// Errors are the API's problem+json bodies, thrown as ApiError (code, detail, trace id).
"use strict";
(function () {
  const API = "/api/v1";

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.code = (problem && problem.code) || "";
      this.traceId = (problem && problem.trace_id) || "";
    }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    const init = { method, headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body; // multipart: the browser sets the boundary
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path.startsWith("http") ? path : API + path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!response.ok) {
      if (response.status === 401) {
        // The session ended (signed out elsewhere, key revoked): back to the sign-in page.
        window.location.assign("/sign-in?next=" + encodeURIComponent(window.location.pathname));
      }
      throw new ApiError(response.status, data);
    }
    return data;
  }

  function describe(error) {
    if (error instanceof ApiError) {
      return (error.code ? error.code + ": " : "") + error.message;
    }
    return "The server could not be reached: " + error.message;
  }

  // What a video's status allows (the same rules as the API).
  const CANCELABLE = ["AWAITING_UPLOAD", "UPLOADED", "PROCESSING"];
  const FINAL = ["READY", "FAILED", "CANCELED"];
  const LABELS = {
    AWAITING_UPLOAD: "Awaiting upload", UPLOADED: "Uploaded", PROCESSING: "Processing",
    READY: "Ready", FAILED: "Failed", CANCELED: "Canceled",
  };

  function field(root, name) { return root.querySelector(`[data-field="${name}"]`); }

  // Show a video's status, progress, error and allowed buttons inside `root`.
  function render(root, video) {
    root.dataset.status = video.status;
    if (video.uploaded_at) root.dataset.uploaded = "1";
    const badge = field(root, "status");
    if (badge) { badge.textContent = LABELS[video.status] || video.status; badge.dataset.status = video.status; }
    showProgress(root, video.progress, video.status);
    const error = field(root, "error");
    if (error) {
      error.hidden = !video.error;
      if (video.error) {
        field(root, "error-code").textContent = video.error.code;
        field(root, "error-message").textContent = video.error.message;
      }
    }
    const cancel = root.querySelector('[data-action="cancel"]');
    if (cancel) cancel.hidden = !CANCELABLE.includes(video.status);
    const retry = root.querySelector('[data-action="retry"]');
    if (retry) retry.hidden = !(["FAILED", "CANCELED"].includes(video.status) && root.dataset.uploaded === "1");
  }

  function showProgress(root, progress, status) {
    const line = field(root, "progress-line");
    if (line) line.hidden = FINAL.includes(status);
    const percent = Math.round((progress && progress.percent) || 0);
    const bar = field(root, "progress");
    if (bar) { bar.value = percent; bar.textContent = percent + "%"; }
    const text = field(root, "percent");
    if (text) text.textContent = percent + "%";
    const step = field(root, "step");
    if (step && progress && progress.step) step.textContent = progress.step;
  }

  // The buttons: call the API instead of posting the form; `after(video|null, action)`.
  function wireActions(root, videoId, after) {
    root.querySelectorAll("form[data-action]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const action = form.dataset.action;
        if (action === "delete" && !window.confirm("Delete this video and everything made from it?")) return;
        const button = form.querySelector("button");
        button.disabled = true;
        try {
          let video = null;
          if (action === "delete") await call("DELETE", `/videos/${videoId}`);
          else video = await call("POST", `/videos/${videoId}/${action}`);
          after(video, action);
        } catch (error) {
          const box = field(root, "error");
          if (box) {
            box.hidden = false;
            field(root, "error-code").textContent = error.code || "";
            field(root, "error-message").textContent = describe(error);
          }
        } finally {
          button.disabled = false;
        }
      });
    });
  }

  window.Academy = { call, describe, ApiError, render, showProgress, wireActions, FINAL };
})();
