// Live progress of one video: WebSocket first, Server-Sent Events when a socket cannot be
// opened, polling GET /api/v1/videos/{id} last. Both pushes take the `progress_token` that
// GET /videos/{id} hands out (`live.websocket_url`, `live.events_url`, `?token=`) and send
// one message format: `connected`, `progress`, then a terminal `ready`/`failed`/`canceled`
// carrying the whole video. `onVideo(video)` gets the video first, after each status change
// and at the end; `onProgress(progress, status)` gets every update in between.
"use strict";
(function () {
  const POLL_MS = 1000;
  const MAX_POLL_MS = 5000;
  const MAX_RECONNECTS = 5;
  const TERMINAL = ["ready", "failed", "canceled"];

  function withToken(url, token) {
    const target = new URL(url, window.location.href);
    target.searchParams.set("token", token);
    return target.toString();
  }

  function watch(videoId, handlers) {
    let stopped = false;
    let socket = null;
    let source = null;
    let timer = null;
    let status = null;
    let reconnects = 0;

    const stop = () => {
      stopped = true;
      if (socket) socket.close();
      if (source) source.close();
      if (timer) clearTimeout(timer);
    };

    function show(video) {
      status = video.status;
      handlers.onVideo(video);
      if (Academy.FINAL.includes(video.status)) stop();
    }

    async function refresh() {
      const video = await Academy.call("GET", `/videos/${videoId}`);
      show(video);
      return video;
    }

    // Polling: the last resort, when neither push can be had.
    function poll(delay) {
      if (stopped) return;
      handlers.mode && handlers.mode("polling");
      timer = setTimeout(async () => {
        try {
          await refresh();
          poll(POLL_MS);
        } catch (_) {
          poll(Math.min((delay || POLL_MS) * 2, MAX_POLL_MS));
        }
      }, delay);
    }

    function onMessage(data) {
      let message;
      try { message = JSON.parse(data); } catch (_) { return; }
      if (stopped || !message || !message.type) return;
      if (TERMINAL.includes(message.type) && message.video) { show(message.video); return; }
      if (message.type === "connected" || message.type === "progress") {
        if (message.status !== status) refresh().catch(() => {}); // new buttons, new facts
        handlers.onProgress({ percent: message.percent, step: message.step }, message.status);
      }
    }

    // A socket or stream that ends before the video does: reconnect with a fresh token.
    function again(push) {
      if (stopped) return;
      if (reconnects++ >= MAX_RECONNECTS) { poll(POLL_MS); return; }
      refresh().then((video) => { if (!stopped) push(video); }).catch(() => poll(POLL_MS));
    }

    function useEvents(video) {
      if (!window.EventSource) return poll(POLL_MS);
      handlers.mode && handlers.mode("sse");
      source = new EventSource(withToken(video.live.events_url, video.progress_token));
      ["connected", "progress", ...TERMINAL].forEach((name) =>
        source.addEventListener(name, (event) => onMessage(event.data)));
      source.onerror = () => {
        // EventSource reconnects by itself with the same (possibly expired) token: instead,
        // start over with a fresh one.
        if (source) source.close();
        source = null;
        again(useEvents);
      };
    }

    function useSocket(video) {
      if (!video.live || !video.progress_token) return poll(POLL_MS);
      if (!window.WebSocket) return useEvents(video);
      let opened = false;
      socket = new WebSocket(withToken(video.live.websocket_url, video.progress_token));
      socket.onopen = () => { opened = true; handlers.mode && handlers.mode("websocket"); };
      socket.onmessage = (event) => onMessage(event.data);
      socket.onclose = () => {
        socket = null;
        if (stopped) return;
        // Never opened: sockets do not get through here (a proxy); use SSE. Closed later:
        // the server restarted or the token expired; connect again with a fresh token.
        if (!opened) again(useEvents);
        else again(useSocket);
      };
    }

    refresh()
      .then((video) => { if (!stopped) useSocket(video); })
      .catch(() => poll(POLL_MS));
    return { stop };
  }

  window.AcademyProgress = { watch };
})();
