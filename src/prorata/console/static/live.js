// Live pages: an element with data-live-fund subscribes to the fund's events (Server-Sent
// Events, with the session cookie: EventSource sends no Authorization header) and reloads the
// page when one of data-live-kinds arrives — about data-live-call (or data-live-distribution),
// when the event names a call (or a distribution).
(function () {
  const root = document.querySelector("[data-live-fund]");
  if (!root || typeof EventSource === "undefined") return;
  const call = root.dataset.liveCall;
  const distribution = root.dataset.liveDistribution;
  const about = (data) =>
    (!call || !data.call_id || data.call_id === call) &&
    (!distribution || !data.distribution_id || data.distribution_id === distribution);
  let pending = null;
  const reload = () => {
    if (pending === null) pending = setTimeout(() => window.location.reload(), 250);
  };
  const source = new EventSource(`/api/v1/funds/${root.dataset.liveFund}/events`);
  for (const kind of root.dataset.liveKinds.split(" ")) {
    source.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data || "{}");
      if (about(data)) reload();
    });
  }
  window.addEventListener("pagehide", () => source.close());
})();
