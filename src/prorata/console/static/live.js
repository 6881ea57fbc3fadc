// Live pages: an element with data-live-fund subscribes to the fund's events after
// data-live-after (Server-Sent Events, with the session cookie: EventSource sends no
// Authorization header) and reloads the page when one of data-live-kinds arrives — about
// data-live-call (or data-live-distribution), when the event names a call (or a distribution).
(function () {
  const root = document.querySelector("[data-live-fund]");
  if (!root || typeof EventSource === "undefined") return;
  const call = root.dataset.liveCall;
  const distribution = root.dataset.liveDistribution;
  const about = (data) =>
    (!call || !data.call_id || data.call_id === call) &&
    (!distribution || !data.distribution_id || data.distribution_id === distribution);
  // A reload started while the person is leaving the page would cancel where they were
  // going (a link followed just as an event came in), so from the moment the page starts to
  // unload, a reload waits LEAVING_MS: if the page is still here by then (the link was a
  // download, or the navigation was stopped), it reloads after all.
  const LEAVING_MS = 5000;
  let pending = null;
  let leaving = false;
  const later = (ms) => {
    clearTimeout(pending);
    pending = setTimeout(() => window.location.reload(), ms);
  };
  const reload = () => {
    if (pending === null) later(leaving ? LEAVING_MS : 250);
  };
  window.addEventListener("beforeunload", () => {
    leaving = true;
    if (pending !== null) later(LEAVING_MS);
    setTimeout(() => (leaving = false), LEAVING_MS);
  });
  // From the last event the page's data includes: one committed while the page was on its
  // way is replayed, not lost (on reconnecting, EventSource's Last-Event-ID takes over).
  const source = new EventSource(
    `/api/v1/funds/${root.dataset.liveFund}/events?after=${root.dataset.liveAfter}`,
  );
  for (const kind of root.dataset.liveKinds.split(" ")) {
    source.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data || "{}");
      if (about(data)) reload();
    });
  }
  window.addEventListener("pagehide", () => source.close());
})();
