// The library: each unfinished video's row follows its live progress; the buttons call the API.
"use strict";
(function () {
  const watchers = new Map();

  function follow(row) {
    const id = row.dataset.videoId;
    if (watchers.has(id) || Academy.FINAL.includes(row.dataset.status)) return;
    const watcher = AcademyProgress.watch(id, {
      onVideo: (video) => {
        Academy.render(row, video);
        if (Academy.FINAL.includes(video.status)) watchers.delete(id);
      },
      onProgress: (progress, status) => Academy.showProgress(row, progress, status),
    });
    watchers.set(id, watcher);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("tr[data-video-id]").forEach((row) => {
      const id = row.dataset.videoId;
      Academy.wireActions(row, id, (video, action) => {
        if (action === "delete") {
          const watcher = watchers.get(id);
          if (watcher) watcher.stop();
          const heading = document.querySelector("h1");
          row.remove();
          if (heading) heading.focus({ preventScroll: true });
          return;
        }
        Academy.render(row, video);
        follow(row);
      });
      follow(row);
    });
  });
})();
