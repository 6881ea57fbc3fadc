// The console's charts, from the JSON each page carries (the same figures as the tables under
// them). Every canvas with `data-figures` (the id of its JSON) is a capital chart: cumulative
// contributions and distributions and a NAV line by month (the LP portal's third line is the
// investor's capital account). The GP's fund page also has called vs uncalled and DPI and TVPI
// by quarter, from its `capital-data`.
(function () {
  if (typeof Chart === "undefined") return;
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const common = { animation: false, maintainAspectRatio: false };
  const money = { y: { ticks: { callback: (v) => v.toLocaleString() } } };
  document.querySelectorAll("canvas[data-figures]").forEach((canvas) => {
    const data = read(canvas.dataset.figures);
    const points = data.points;
    const series = (key) => points.map((p) => (p[key] === null ? null : Number(p[key])));
    new Chart(canvas, {
      type: "line",
      data: {
        labels: points.map((p) => p.month),
        datasets: [
          { label: "Contributed", data: series("contributed"), borderColor: "#0b5cad", tension: 0.2 },
          { label: "Distributed", data: series("distributed"), borderColor: "#116329", tension: 0.2 },
          { label: data.nav_label || "NAV", data: series("nav"), borderColor: "#b26a00", spanGaps: true, tension: 0.2 },
        ],
      },
      options: { ...common, scales: money },
    });
  });
  const called = document.getElementById("called-chart");
  const multiples = document.getElementById("multiples-chart");
  if (!called && !multiples) return;
  const data = read("capital-data");
  if (called) {
    new Chart(called, {
      type: "doughnut",
      data: {
        labels: ["Called", "Uncalled"],
        datasets: [{ data: [Number(data.called), Number(data.uncalled)], backgroundColor: ["#0b5cad", "#d0d7de"] }],
      },
      options: common,
    });
  }
  if (multiples) {
    new Chart(multiples, {
      type: "bar",
      data: {
        labels: data.quarters.map((q) => q.quarter),
        datasets: [
          { label: "DPI", data: data.quarters.map((q) => Number(q.dpi)), backgroundColor: "#116329" },
          { label: "TVPI", data: data.quarters.map((q) => Number(q.tvpi)), backgroundColor: "#b26a00" },
        ],
      },
      options: common,
    });
  }
})();
