// Upload: create the video through the API, send the bytes straight to storage (the API's
// PUT on file storage; presigned S3 URLs, several parts at once, each retried, for large
// files), then confirm with upload-complete and open the video's page.
// What the server committed survives a closed tab: the video stays AWAITING_UPLOAD in the
// library (cancel or delete it there; reconcile expires it after VIDEO_UPLOAD_TTL_SECONDS).
"use strict";
(function () {
  const PARALLEL_PARTS = 4;
  const PART_ATTEMPTS = 4;
  const RETRY_BASE_MS = 500;

  const $ = (id) => document.getElementById(id);
  let active = null; // { videoId, requests:Set<XMLHttpRequest>, canceled }

  function sameOrigin(url) {
    return new URL(url, window.location.href).origin === window.location.origin;
  }

  function showError(text) {
    const box = $("upload-error");
    box.textContent = text;
    box.hidden = !text;
  }

  function setProgress(loaded, total) {
    const percent = total ? Math.floor((loaded / total) * 100) : 0;
    $("upload-bar").value = percent;
    $("upload-bar").textContent = percent + "%";
    $("upload-percent").textContent = percent + "%";
  }

  // One PUT of `body` to `url` for `job`; resolves with the response's ETag.
  function put(job, url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      if (job.stopped) { reject(new Error("canceled")); return; }
      const xhr = new XMLHttpRequest();
      job.requests.add(xhr);
      xhr.open("PUT", url);
      Object.entries(headers || {}).forEach(([k, v]) => xhr.setRequestHeader(k, v));
      if (sameOrigin(url)) xhr.setRequestHeader("X-CSRFToken", document.querySelector('meta[name="csrf-token"]').content);
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        job.requests.delete(xhr);
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(body.size);
          resolve(xhr.getResponseHeader("ETag"));
        } else {
          let problem = null;
          try { problem = JSON.parse(xhr.responseText); } catch (_) { problem = null; }
          reject(new Academy.ApiError(xhr.status, problem));
        }
      };
      xhr.onerror = () => { job.requests.delete(xhr); reject(new Error("the connection failed")); };
      xhr.onabort = () => { job.requests.delete(xhr); reject(new Error("canceled")); };
      xhr.send(body);
    });
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // A PUT retried on network errors and 5xx (not on 4xx: those will not change).
  async function putWithRetry(job, url, body, headers, onProgress, what) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await put(job, url, body, headers, onProgress);
      } catch (error) {
        onProgress(0);
        const retryable = !(error instanceof Academy.ApiError) || error.status >= 500;
        if (job.stopped || !retryable || attempt >= PART_ATTEMPTS) throw error;
        $("upload-status").textContent = `${what} failed (${error.message}); trying again (${attempt + 1}/${PART_ATTEMPTS})…`;
        await sleep(RETRY_BASE_MS * 2 ** (attempt - 1));
      }
    }
  }

  // Every part, PARALLEL_PARTS at a time; the first part that fails for good stops the rest.
  async function uploadParts(job, file, upload) {
    const loaded = new Array(upload.parts.length).fill(0);
    const report = () => setProgress(loaded.reduce((a, b) => a + b, 0), file.size);
    const results = [];
    let next = 0;
    async function lane() {
      while (next < upload.parts.length && !job.stopped) {
        const index = next++;
        const part = upload.parts[index];
        const start = (part.part_number - 1) * upload.part_size;
        const blob = file.slice(start, Math.min(start + upload.part_size, file.size));
        const etag = await putWithRetry(job, part.url, blob, {}, (n) => { loaded[index] = n; report(); }, `Part ${part.part_number}`);
        if (!etag) throw new Error("the storage did not return the part's ETag (the bucket's CORS rules must expose ETag)");
        results.push({ part_number: part.part_number, etag });
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, upload.parts.length) }, lane));
    } catch (error) {
      job.stopped = true;
      job.requests.forEach((xhr) => xhr.abort());
      throw error;
    }
    return results.sort((a, b) => a.part_number - b.part_number);
  }

  async function start(form) {
    const file = $("file").files[0];
    const title = $("title").value.trim();
    const max = Number(form.dataset.maxBytes);
    if (!title) { showError("Give the video a title."); $("title").focus(); return; }
    if (!file) { showError("Pick a video file, or drop one on the page."); $("file").focus(); return; }
    if (file.size === 0) { showError(`${file.name} is empty.`); return; }
    if (max && file.size > max) { showError(`${file.name} is larger than the limit (${max} bytes).`); return; }
    showError("");
    $("upload-start").disabled = true;
    $("upload-progress").hidden = false;
    $("upload-cancel").hidden = false;
    setProgress(0, file.size);
    const job = { videoId: null, requests: new Set(), stopped: false, canceled: false };
    active = job;
    try {
      $("upload-status").textContent = "Creating the video…";
      const created = await Academy.call("POST", "/videos", { title, size_bytes: file.size, filename: file.name.slice(-255) });
      job.videoId = created.id;
      form.dataset.videoId = created.id;
      const upload = created.upload;
      $("upload-status").textContent = "Uploading…";
      let body = {};
      if (upload.parts) {
        body = { parts: await uploadParts(job, file, upload) };
      } else {
        await putWithRetry(job, upload.url, file, upload.headers, (n) => setProgress(n, file.size), "The upload");
      }
      if (job.canceled) return;
      $("upload-status").textContent = "Checking the upload…";
      await Academy.call("POST", upload.complete_url, body);
      active = null;
      $("upload-status").textContent = "Uploaded. Opening the video…";
      window.location.assign(`/videos/${created.id}`);
    } catch (error) {
      if (job.canceled) return;
      showError("The upload failed: " + Academy.describe(error));
      $("upload-status").textContent = job.videoId
        ? `Video ${job.videoId} is kept in the library (awaiting its upload): delete it there, or upload the file again.`
        : "";
      $("upload-start").disabled = false;
      $("upload-cancel").hidden = true;
      active = null;
    }
  }

  async function cancel() {
    if (!active) return;
    const current = active;
    current.canceled = true;
    current.stopped = true;
    current.requests.forEach((xhr) => xhr.abort());
    $("upload-cancel").hidden = true;
    $("upload-status").textContent = "Canceling…";
    try {
      if (current.videoId) await Academy.call("POST", `/videos/${current.videoId}/cancel`);
      $("upload-status").textContent = "Upload canceled.";
    } catch (error) {
      showError("Canceling failed: " + Academy.describe(error));
    }
    active = null;
    $("upload-start").disabled = false;
    $("upload-start").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("upload-form");
    const input = $("file");
    const zone = $("drop-zone");
    const pick = () => {
      const file = input.files[0];
      if (file && !$("title").value.trim()) $("title").value = file.name.replace(/\.[^.]+$/, "");
    };
    input.addEventListener("change", pick);
    ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    }));
    ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        pick();
      }
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); if (!active) start(form); });
    $("upload-cancel").addEventListener("click", cancel);
    window.addEventListener("beforeunload", (event) => {
      if (active && !active.stopped) { event.preventDefault(); event.returnValue = ""; }
    });
  });
})();
