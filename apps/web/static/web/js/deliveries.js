// The video page's webhook deliveries: GET /api/v1/videos/{id}/webhook-deliveries, with the
// tenant's endpoints (GET /api/v1/webhooks: each row's URL, and whether there is any endpoint
// at all), drawn as the server draws the first paint (apps/web/deliveries.py). The video page
// refreshes them when the video's status changes (its events and their deliveries are written
// then); while a delivery is still pending they are fetched again every few seconds, a bounded
// number of times. API text goes in as text nodes only.
"use strict";
(function () {
  const POLL_MS = 2000;
  // 30 s: the first attempt and the first retry (5 s after a failure) are shown as they happen;
  // later retries are minutes apart and show at the next refresh.
  const MAX_POLLS = 15;
  const WAITING = ["PENDING", "SENDING"];
  const LABELS = { PENDING: "Pending", SENDING: "Sending", DELIVERED: "Delivered", FAILED: "Failed" };

  // The time a row shows and what it means: the next try, the delivery, the last try.
  function when(delivery) {
    if (delivery.status === "PENDING") return ["Next try", delivery.next_attempt_at];
    if (delivery.status === "DELIVERED") return ["Delivered", delivery.delivered_at];
    const log = delivery.log || [];
    if (delivery.status === "FAILED" && log.length) return ["Last try", log[log.length - 1].attempted_at];
    return ["", null];
  }

  // "2025-05-01 12:00:03", in UTC as the server writes it (TIME_ZONE is UTC).
  function stamp(iso) {
    const time = new Date(iso);
    return Number.isNaN(time.getTime()) ? String(iso) : time.toISOString().slice(0, 19).replace("T", " ");
  }

  // A cell whose phone-sized label is `label`; strings become text nodes (append never parses).
  function cell(tag, label, ...children) {
    const element = document.createElement(tag);
    element.dataset.label = label;
    element.append(...children);
    return element;
  }

  function row(delivery, urls) {
    const tr = document.createElement("tr");
    tr.dataset.deliveryId = String(delivery.id);
    tr.dataset.status = delivery.status;
    const event = cell("th", "Event", delivery.event_type);
    event.scope = "row";
    const url = cell("td", "Endpoint", urls.get(delivery.webhook_id) || "");
    url.className = "url";
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.status = delivery.status;
    badge.textContent = LABELS[delivery.status] || delivery.status;
    const code = delivery.last_status_code;
    const response = cell("td", "Last response", code === null || code === undefined ? "—" : String(code));
    if (delivery.last_error) {
      const error = document.createElement("span");
      error.className = "muted";
      error.textContent = delivery.last_error;
      response.append(" ", error);
    }
    const [label, at] = when(delivery);
    const moment = cell("td", "Next try or delivered");
    if (at) {
      const time = document.createElement("time");
      time.dateTime = at;
      time.textContent = stamp(at);
      moment.append(`${label} `, time);
    } else {
      moment.textContent = "—";
    }
    tr.append(
      event, url, cell("td", "Status", badge), cell("td", "Attempts", String(delivery.attempts)),
      response, moment,
    );
    return tr;
  }

  // `section` is the page's #deliveries; returns `{ refresh }`.
  function follow(section, videoId) {
    const body = section.querySelector("#deliveries-body");
    const table = body.closest("table");
    const noEndpoints = section.querySelector('[data-empty="no-endpoints"]');
    const noDeliveries = section.querySelector('[data-empty="no-deliveries"]');
    const error = section.querySelector("#deliveries-error");
    let timer = null;
    let polls = 0;
    let generation = 0;

    function show(items, endpoints) {
      const urls = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint.url]));
      body.replaceChildren(...items.map((delivery) => row(delivery, urls)));
      table.hidden = items.length === 0;
      noEndpoints.hidden = items.length > 0 || endpoints.length > 0;
      noDeliveries.hidden = items.length > 0 || endpoints.length === 0;
      const waiting = items.some((delivery) => WAITING.includes(delivery.status));
      section.dataset.waiting = waiting ? "1" : "";
      return waiting;
    }

    async function load() {
      clearTimeout(timer);
      timer = null;
      const mine = ++generation;
      let again;
      try {
        const [deliveries, hooks] = await Promise.all([
          Academy.call("GET", `/videos/${videoId}/webhook-deliveries`),
          Academy.call("GET", "/webhooks"),
        ]);
        if (mine !== generation) return; // a newer refresh has started
        error.hidden = true;
        again = show(deliveries.items, hooks.items);
      } catch (failure) {
        if (mine !== generation) return;
        error.textContent = `The deliveries could not be refreshed: ${Academy.describe(failure)}`;
        error.hidden = false;
        again = true; // try again while the budget lasts
      }
      if (again && polls > 0) {
        polls -= 1;
        timer = setTimeout(load, POLL_MS);
      }
    }

    function refresh() {
      polls = MAX_POLLS;
      return load();
    }

    if (section.dataset.waiting === "1") {
      polls = MAX_POLLS;
      timer = setTimeout(load, POLL_MS);
    }
    return { refresh };
  }

  window.AcademyDeliveries = { follow };
})();
