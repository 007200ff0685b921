// One video: live status until READY, then hls.js plays the master playlist with a quality
// selector built from its levels (Safari and iOS play HLS natively: "Auto" only there); the
// webhook deliveries (deliveries.js) are fetched again at each change of status.
// A signed video's URLs carry ?token=: a fresh token is fetched every half of its lifetime,
// and every later request of the player (playlists, segments) goes out with the newest one,
// so a lecture longer than a token's life plays to its end.
"use strict";
(function () {
  let hls = null;

  function tokenKeeper(id, master, ttlSeconds) {
    let token = new URL(master, window.location.href).searchParams.get("token");
    if (!token) return null;
    const everyMs = Math.max(5, ttlSeconds / 2) * 1000;
    const refresh = async () => {
      let next = everyMs;
      try {
        token = (await Academy.call("POST", `/videos/${id}/playback-tokens`, {})).token;
      } catch (_) {
        next = 5000; // try again soon: the current token is still good for a while
      }
      window.setTimeout(refresh, next);
    };
    window.setTimeout(refresh, everyMs);
    return { current: () => token };
  }

  // hls.js lets xhrSetup open the request itself: that is how the newest token goes out.
  function withFreshToken(keeper) {
    return (xhr, url) => {
      const target = new URL(url, window.location.href);
      if (!keeper || !target.searchParams.has("token")) return;
      target.searchParams.set("token", keeper.current());
      xhr.open("GET", target.toString(), true);
    };
  }

  // Named by the short side, as the ladder names its rungs: a portrait phone video's 1080x1920
  // rendition is "1080p", not "1920p".
  function qualityLabel(level) {
    if (!level.height) return `${Math.round(level.bitrate / 1000)} kb/s`;
    return `${level.width ? Math.min(level.width, level.height) : level.height}p`;
  }

  // Where to start: ?t= or #t= as players take it ("75", "75.5", "1m15s", "1h2m3s"); 0 if none.
  function requestedStart() {
    const raw = new URLSearchParams(window.location.search).get("t")
      ?? new URLSearchParams(window.location.hash.slice(1)).get("t");
    if (!raw) return 0;
    if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
    const parts = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(raw);
    if (!parts || !parts[0]) return 0;
    return Number(parts[1] || 0) * 3600 + Number(parts[2] || 0) * 60 + Number(parts[3] || 0);
  }

  // A link to a second plays from there; a browser that refuses to autoplay leaves it paused
  // at that second (the reader presses play).
  function playFrom(video, seconds) {
    if (!seconds) return;
    const go = () => {
      if (Math.abs(video.currentTime - seconds) > 0.5) video.currentTime = seconds;
      const playing = video.play();
      if (playing) playing.catch(() => {});
    };
    if (video.readyState >= 1) go(); else video.addEventListener("loadedmetadata", go, { once: true });
  }

  function startPlayer(id, master, poster) {
    const video = document.getElementById("player");
    const select = document.getElementById("quality");
    const message = document.getElementById("player-message");
    if (!master || !video) return;
    if (poster) video.poster = poster;
    video.hidden = false;
    document.getElementById("quality-block").hidden = false;
    message.textContent = "";
    if (window.Hls && Hls.isSupported()) {
      const start = requestedStart();
      const keeper = tokenKeeper(id, master, Number(video.dataset.tokenTtl) || 3600);
      // At most 30 s ahead (hls.js would fetch a small lecture whole): a viewer who leaves
      // early costs little, and segments are fetched as playback goes, with fresh tokens.
      hls = new Hls({
        enableWorker: false,
        maxBufferLength: 30,
        maxMaxBufferLength: 30,
        xhrSetup: withFreshToken(keeper),
        subtitleDisplay: false,
        startPosition: start || -1,
      });
      window.AcademyPlayer = { hls, video }; // the page's captions list reloads through it
      hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
        select.replaceChildren(new Option("Auto", "-1"));
        // Highest first, as the renditions are listed everywhere else.
        data.levels.map((level, index) => [level, index]).reverse()
          .forEach(([level, index]) => select.add(new Option(qualityLabel(level), String(index))));
        select.dataset.levels = String(data.levels.length);
      });
      // The master's subtitle renditions (caption tracks) as a menu: "Off" or one track.
      const captions = document.getElementById("captions-menu");
      hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_event, data) => {
        captions.replaceChildren(new Option("Off", "-1"));
        data.subtitleTracks.forEach((track, index) =>
          captions.add(new Option(track.name || track.lang || `Track ${index + 1}`, String(index))));
        document.getElementById("captions-block").hidden = data.subtitleTracks.length === 0;
        captions.dataset.tracks = String(data.subtitleTracks.length);
      });
      captions.addEventListener("change", () => {
        const index = Number(captions.value);
        hls.subtitleDisplay = index >= 0;
        hls.subtitleTrack = index;
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
        const level = hls.levels[data.level];
        video.dataset.playingLevel = level ? qualityLabel(level) : "";
      });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) message.textContent = `Playback failed: ${data.type} (${data.details}).`;
      });
      hls.loadSource(master);
      hls.attachMedia(video);
      playFrom(video, start);
      select.addEventListener("change", () => { hls.currentLevel = Number(select.value); });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = master;
      playFrom(video, requestedStart());
      select.replaceChildren(new Option("Auto", "-1"));
      select.disabled = true;
    } else {
      message.textContent = "This browser cannot play HLS video.";
    }
  }

  // The facts a finished job adds (duration, frame, renditions, stage timings), in place.
  function renderDetails(page, video) {
    const set = (name, text) => { const el = page.querySelector(`[data-field="${name}"]`); if (el) el.textContent = text; };
    set("duration", video.duration_seconds ? `${video.duration_seconds.toFixed(1)} s` : "—");
    set("frame", video.width ? `${video.width}×${video.height}` : "—");
    set("renditions", (video.renditions || []).map((r) => r.name).join(", ") || "—");
    set("attempts", String(video.attempts));
    const timings = Object.entries(video.timings_ms || {}).sort(([a], [b]) => a.localeCompare(b));
    const body = document.getElementById("timings-body");
    body.replaceChildren(...timings.map(([stage, ms]) => {
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = stage;
      const value = document.createElement("td");
      value.textContent = `${ms} ms`;
      row.append(name, value);
      return row;
    }));
    body.closest("table").hidden = timings.length === 0;
    document.getElementById("timings-empty").hidden = timings.length > 0;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.querySelector(".video-page");
    const status = page.querySelector(".video-status");
    const id = page.dataset.videoId;
    const player = document.getElementById("player");
    const deliveries = AcademyDeliveries.follow(document.getElementById("deliveries"), id);
    let started = false;

    const onVideo = (video) => {
      Academy.render(status, video);
      renderDetails(page, video);
      // A new status is a new event: its webhook deliveries are written with it.
      const changed = page.dataset.status !== video.status;
      page.dataset.status = video.status;
      if (changed) deliveries.refresh();
      if (video.status === "READY" && video.assets && !started) {
        started = true;
        startPlayer(id, video.assets.master_playlist_url, video.assets.thumbnail_url);
      }
    };

    const handlers = {
      onVideo,
      onProgress: (progress, now) => Academy.showProgress(status, progress, now),
      mode: (name) => { page.dataset.liveMode = name; }, // which path carries the updates
    };

    Academy.wireActions(status, id, (video, action) => {
      if (action === "delete") { window.location.assign("/"); return; }
      onVideo(video);
      AcademyProgress.watch(id, handlers);
    });

    if (page.dataset.status === "READY") {
      started = true;
      startPlayer(id, player.dataset.master, null);
    } else if (!Academy.FINAL.includes(page.dataset.status)) {
      AcademyProgress.watch(id, handlers);
    }
  });
})();
