// The video page's caption tracks: the list (refreshed after each change), the upload form
// (SRT or WebVTT, multipart through the API) and the delete buttons; problems are shown as
// the API words them (a broken file names its line).
"use strict";
(function () {
  function row(track) {
    const tr = document.createElement("tr");
    tr.dataset.trackId = String(track.id);
    tr.dataset.status = track.status;
    const cell = (tag, label, text) => {
      const el = document.createElement(tag);
      el.dataset.label = label;
      if (text !== undefined) el.textContent = text;
      tr.append(el);
      return el;
    };
    const language = cell("th", "Language", track.language || "—");
    language.scope = "row";
    cell("td", "Label", track.label);
    cell("td", "Kind", track.kind);
    const status = cell("td", "Status");
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.status = track.status;
    badge.textContent = track.status;
    status.append(badge);
    if (track.error) status.append(` ${track.error.code}`);
    const file = cell("td", "File", track.vtt_url ? "" : "—");
    if (track.vtt_url) {
      const link = document.createElement("a");
      link.href = track.vtt_url;
      link.textContent = "WebVTT";
      file.append(link);
    }
    const actions = cell("td", "");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.dataset.deleteTrack = String(track.id);
    remove.textContent = "Delete";
    actions.append(remove);
    return tr;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const card = document.getElementById("captions");
    if (!card) return;
    const id = card.dataset.videoId;
    const body = document.getElementById("captions-body");
    const error = document.getElementById("captions-error");
    const form = document.getElementById("caption-upload");
    const show = (message) => { error.textContent = message; error.hidden = !message; };

    async function reload() {
      const data = await Academy.call("GET", `/videos/${id}/captions`);
      body.replaceChildren(...data.items.map(row));
      body.closest("table").hidden = data.items.length === 0;
      document.getElementById("captions-empty").hidden = data.items.length > 0;
      // The master changed: the player reads it again to find the new subtitle group.
      const player = window.AcademyPlayer;
      if (player && player.hls && player.hls.url) player.hls.loadSource(player.hls.url);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show("");
      try {
        await Academy.call("POST", `/videos/${id}/captions`, new FormData(form));
        form.reset();
        await reload();
      } catch (err) {
        show(Academy.describe(err));
      }
    });

    body.addEventListener("click", async (event) => {
      const button = event.target.closest("[data-delete-track]");
      if (!button || !window.confirm("Delete this caption track?")) return;
      show("");
      try {
        await Academy.call("DELETE", `/videos/${id}/captions/${button.dataset.deleteTrack}`);
        await reload();
      } catch (err) {
        show(Academy.describe(err));
      }
    });
  });
})();
