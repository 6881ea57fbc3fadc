// The fund page's capital chart: cumulative contributions, distributions and NAV by month,
// from the JSON the page carries (the same figures as the table under it).
(function () {
  const canvas = document.getElementById("capital-chart");
  const source = document.getElementById("capital-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const points = JSON.parse(source.textContent).points;
  const series = (key) => points.map((p) => (p[key] === null ? null : Number(p[key])));
  new Chart(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => p.month),
      datasets: [
        { label: "Contributed", data: series("contributed"), borderColor: "#0b5cad", tension: 0.2 },
        { label: "Distributed", data: series("distributed"), borderColor: "#116329", tension: 0.2 },
        { label: "NAV", data: series("nav"), borderColor: "#b26a00", spanGaps: true, tension: 0.2 },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { ticks: { callback: (v) => v.toLocaleString() } } },
    },
  });
})();
