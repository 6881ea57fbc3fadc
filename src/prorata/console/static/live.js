// Live pages: an element with data-live-fund subscribes to the fund's events after
// data-live-after (Server-Sent Events, with the session cookie: EventSource sends no
// Authorization header) and shows the page anew when one of data-live-kinds arrives — about
// data-live-call (or data-live-distribution), when the event names a call (or a distribution).
//
// It reloads itself only when nothing would be lost by it: not while a form on it has been
// typed into (a reload puts back the values it was rendered with: a half-typed amount would
// become the amount due), not when it answered a form (data-live-posted: a reload would send
// the form again), not once the person is leaving it (a reload would cancel where they are
// going, however long that takes). Then it says that the page is out of date, with a link to
// it as it is now (data-live-url).
(function () {
  const root = document.querySelector("[data-live-fund]");
  if (!root || typeof EventSource === "undefined") return;
  const call = root.dataset.liveCall;
  const distribution = root.dataset.liveDistribution;
  const about = (data) =>
    (!call || !data.call_id || data.call_id === call) &&
    (!distribution || !data.distribution_id || data.distribution_id === distribution);

  let leaving = false;
  window.addEventListener("beforeunload", () => (leaving = true));
  const changed = (field) => {
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked !== field.defaultChecked;
    }
    if (field.tagName === "SELECT") {
      const options = Array.from(field.options);
      if (field.multiple) return options.some((option) => option.selected !== option.defaultSelected);
      // With no option marked selected, a browser shows the first: that is no change.
      return field.selectedIndex !== Math.max(0, options.findIndex((o) => o.defaultSelected));
    }
    return "defaultValue" in field && field.type !== "hidden" && field.value !== field.defaultValue;
  };
  const edited = () =>
    Array.from(document.forms).some((form) => Array.from(form.elements).some(changed));

  const outOfDate = () => {
    if (document.getElementById("live-out-of-date")) return;
    const notice = document.createElement("p");
    notice.id = "live-out-of-date";
    notice.className = "notice";
    notice.setAttribute("role", "status");
    const link = document.createElement("a");
    link.href = root.dataset.liveUrl || window.location.href;
    link.textContent = "Show it as it is now";
    notice.append("This page has changed since it was shown. ", link, ".");
    (document.querySelector("main") || document.body).prepend(notice);
  };

  let pending = null;
  const refresh = () => {
    if (pending !== null) return;
    pending = setTimeout(() => {
      pending = null;
      if (leaving || root.dataset.livePosted !== undefined || edited()) outOfDate();
      else window.location.reload();
    }, 250);
  };

  // From the last event the page's data includes: one committed while the page was on its
  // way is replayed, not lost (on reconnecting, EventSource's Last-Event-ID takes over).
  const source = new EventSource(
    `/api/v1/funds/${root.dataset.liveFund}/events?after=${root.dataset.liveAfter}`,
  );
  for (const kind of root.dataset.liveKinds.split(" ")) {
    source.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data || "{}");
      if (about(data)) refresh();
    });
  }
  // A stream refused (its slots are bounded) while work is under way (data-live-poll): the
  // page looks again every 5 s instead, by the same rule.
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED && root.dataset.livePoll !== undefined) {
      setInterval(refresh, 5000);
    }
  });
  window.addEventListener("pagehide", () => source.close());
})();
