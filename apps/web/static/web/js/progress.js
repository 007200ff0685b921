// Live progress of one video: WebSocket first, Server-Sent Events when the socket cannot be
// opened, polling GET /api/v1/videos/{id} last. `onVideo(video)` gets the whole video
// (first, after every status change and at the end); `onProgress(progress, status)` each update.
"use strict";
(function () {
  const POLL_MS = 1000;
  const MAX_POLL_MS = 5000;

  function watch(videoId, handlers) {
    let stopped = false;
    let socket = null;
    let source = null;
    let timer = null;
    let status = null;

    const stop = () => {
      stopped = true;
      if (socket) socket.close();
      if (source) source.close();
      if (timer) clearTimeout(timer);
    };

    async function refresh() {
      const video = await Academy.call("GET", `/videos/${videoId}`);
      status = video.status;
      handlers.onVideo(video);
      if (Academy.FINAL.includes(video.status)) stop();
      return video;
    }

    // Polling: the last resort, and the path taken when both pushes fail.
    function poll(delay) {
      if (stopped) return;
      timer = setTimeout(async () => {
        try {
          await refresh();
          poll(POLL_MS);
        } catch (_) {
          poll(Math.min((delay || POLL_MS) * 2, MAX_POLL_MS));
        }
      }, delay);
    }

    // A pushed message: progress moves the bar; any status change fetches the video again.
    function onMessage(message) {
      if (!message || stopped) return;
      if (message.progress) handlers.onProgress(message.progress, message.status || status);
      if (message.status && message.status !== status) refresh().catch(() => {});
    }

    function useEvents(video) {
      const url = video.progress_events_url;
      if (!url || !window.EventSource) return poll(POLL_MS);
      source = new EventSource(url);
      const handle = (event) => { try { onMessage(JSON.parse(event.data)); } catch (_) { /* ignore */ } };
      ["connected", "progress", "ready", "failed", "canceled", "message"].forEach((name) => source.addEventListener(name, handle));
      source.onerror = () => {
        if (stopped) return;
        source.close();
        source = null;
        poll(POLL_MS);
      };
    }

    function useSocket(video) {
      const url = video.progress_socket_url;
      if (!url || !window.WebSocket) return useEvents(video);
      let opened = false;
      socket = new WebSocket(url);
      socket.onopen = () => { opened = true; };
      socket.onmessage = (event) => { try { onMessage(JSON.parse(event.data)); } catch (_) { /* ignore */ } };
      socket.onclose = () => {
        socket = null;
        if (stopped) return;
        // Never opened: pushes over a socket are blocked here (a proxy); try SSE. Closed
        // later: the video may have finished or the server restarted; ask the API.
        if (!opened) useEvents(video);
        else refresh().then((v) => { if (!Academy.FINAL.includes(v.status)) poll(POLL_MS); }).catch(() => poll(POLL_MS));
      };
    }

    refresh()
      .then((video) => { if (!stopped) useSocket(video); })
      .catch(() => poll(POLL_MS));
    return { stop };
  }

  window.AcademyProgress = { watch };
})();
