// The transcript beside the player: the cues of the default READY track as a list of buttons
// (a labelled time and the words); the cue being played is marked aria-current and kept in
// view, a click (or Enter/Space) seeks there, and the filter box marks the lines that match.
"use strict";
(function () {
  const FOLLOW_PAUSE_MS = 4000; // after the reader scrolls the list, it stops following for a bit

  function clock(seconds) {
    const whole = Math.floor(seconds);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function spoken(seconds) {
    const whole = Math.floor(seconds);
    const m = Math.floor(whole / 60);
    const s = whole % 60;
    return m ? `${m} minute${m === 1 ? "" : "s"} ${s} second${s === 1 ? "" : "s"}` : `${s} second${s === 1 ? "" : "s"}`;
  }

  // The text of a line with each occurrence of `needle` in a <mark> (no HTML is parsed).
  function marked(text, needle) {
    const span = document.createElement("span");
    if (!needle) { span.textContent = text; return [span, false]; }
    const lower = text.toLocaleLowerCase();
    let at = 0;
    let found = false;
    for (let i = lower.indexOf(needle); i !== -1; i = lower.indexOf(needle, at)) {
      span.append(text.slice(at, i));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(i, i + needle.length);
      span.append(mark);
      at = i + needle.length;
      found = true;
    }
    span.append(text.slice(at));
    return [span, found];
  }

  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("transcript");
    const video = document.getElementById("player");
    if (!panel || !video || panel.hidden) return;
    const list = document.getElementById("transcript-list");
    const status = document.getElementById("transcript-status");
    const filter = document.getElementById("transcript-filter");
    let cues = [];
    let items = [];
    let current = -1;
    let followAfter = 0;

    function render() {
      const needle = filter.value.trim().toLocaleLowerCase();
      let matches = 0;
      items = cues.map((cue, index) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.start = String(cue.start);
        const time = document.createElement("time");
        time.textContent = clock(cue.start);
        time.setAttribute("aria-label", spoken(cue.start));
        const [text, found] = marked(cue.text, needle);
        if (found) matches += 1;
        if (needle && !found) li.classList.add("no-match");
        button.append(time, text);
        button.addEventListener("click", () => {
          video.currentTime = cue.start;
          followAfter = 0;
          const playing = video.play();
          if (playing) playing.catch(() => {}); // a paused seek is fine too
        });
        li.append(button);
        if (index === current) li.setAttribute("aria-current", "true");
        return li;
      });
      list.replaceChildren(...items);
      status.textContent = needle
        ? `${matches} of ${cues.length} lines contain “${filter.value.trim()}”.`
        : `${cues.length} lines.`;
    }

    function follow() {
      const t = video.currentTime;
      let index = -1;
      for (let i = 0; i < cues.length; i += 1) {
        if (cues[i].start <= t + 0.05) index = i; else break;
      }
      if (index === current) return;
      if (items[current]) items[current].removeAttribute("aria-current");
      current = index;
      const item = items[current];
      if (!item) return;
      item.setAttribute("aria-current", "true");
      if (Date.now() >= followAfter) {
        // Scroll the list only (not the page) so the current line stays in view.
        const top = item.offsetTop - list.offsetTop;
        if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
          list.scrollTop = top - list.clientHeight / 3;
        }
      }
    }

    list.addEventListener("wheel", () => { followAfter = Date.now() + FOLLOW_PAUSE_MS; }, { passive: true });
    list.addEventListener("touchmove", () => { followAfter = Date.now() + FOLLOW_PAUSE_MS; }, { passive: true });
    filter.addEventListener("input", render);
    video.addEventListener("timeupdate", follow);
    video.addEventListener("seeked", follow);

    window.Academy.call("GET", `/videos/${panel.dataset.videoId}/transcript`)
      .then((body) => {
        cues = body.cues;
        document.getElementById("transcript-download").hidden = false;
        render();
        follow();
      })
      .catch((error) => {
        status.textContent = error.status === 404
          ? "No transcript yet: it appears when the captions are ready."
          : `The transcript could not be loaded: ${error.message}`;
      });
  });
})();
