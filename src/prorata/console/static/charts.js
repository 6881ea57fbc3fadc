// The fund page's charts, from the JSON the page carries (the same figures as the tables
// under them): cumulative capital by month, called vs uncalled, DPI and TVPI by quarter. The LP
// portal's fund page has the first only (its third line the investor's capital account): each
// chart is drawn where its canvas is.
(function () {
  const source = document.getElementById("capital-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const points = data.points;
  const series = (key) => points.map((p) => (p[key] === null ? null : Number(p[key])));
  const common = { animation: false, maintainAspectRatio: false };
  const money = { y: { ticks: { callback: (v) => v.toLocaleString() } } };
  const draw = (id, config) => {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  };
  draw("capital-chart", {
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
  draw("called-chart", {
    type: "doughnut",
    data: {
      labels: ["Called", "Uncalled"],
      datasets: [{ data: [Number(data.called), Number(data.uncalled)], backgroundColor: ["#0b5cad", "#d0d7de"] }],
    },
    options: common,
  });
  draw("multiples-chart", {
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
})();
