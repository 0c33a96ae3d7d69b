/* Analytics charts (Chart.js 4.6.2, vendored in static/vendor). The numbers come from the page's
 * JSON (the same as GET /api/analytics/) and every chart has its table beside it. */
(function () {
  "use strict";
  const palette = ["#0b6e5f", "#1d4ed8", "#6d28d9", "#d97706", "#b42318", "#0891b2", "#15803d", "#9aa3ad"];
  const percent = (v) => Math.round(v * 1000) / 10 + "%";

  const short = (text) => (text.length > 32 ? text.slice(0, 31) + "…" : text);

  // Legend swatches as the series are drawn: a line for a line (dashed if it is), a square for
  // bars. Chart.js' default is a box outlined in the line's dash, which reads as a dashed box.
  const seriesLegend = {
    usePointStyle: true,
    generateLabels(chart) {
      return window.Chart.defaults.plugins.legend.labels.generateLabels(chart).map((item) => {
        const line = (chart.data.datasets[item.datasetIndex].type || chart.config.type) === "line";
        return Object.assign(item, { pointStyle: line ? "line" : "rect", lineWidth: line ? 3 : item.lineWidth });
      });
    },
  };

  function draw(id, config) {
    const canvas = document.getElementById("chart-" + id);
    if (!canvas || !window.Chart) return;
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
      config.options || {}
    );
    (config.data.datasets || []).forEach((d) => { d.maxBarThickness = 40; });
    new window.Chart(canvas, config);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("analytics-data");
    if (!source || !window.Chart) return;
    const data = JSON.parse(source.textContent);
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#46525e";

    draw("messages", {
      type: "line",
      data: {
        labels: data.messages.map((d) => d.day),
        datasets: [
          { label: "Inbound", data: data.messages.map((d) => d.inbound), borderColor: palette[1], backgroundColor: palette[1], tension: 0 },
          { label: "Outbound", data: data.messages.map((d) => d.outbound), borderColor: palette[0], backgroundColor: palette[0], tension: 0 },
          { label: "Conversations started", data: data.messages.map((d) => d.started), borderColor: palette[3], backgroundColor: palette[3], borderDash: [6, 4], tension: 0 },
        ],
      },
      // Straight segments: one point per day, nothing happens between them.
      options: { plugins: { legend: { position: "bottom", labels: seriesLegend } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    // Times in minutes on the axis; the table beside it has the readable figures.
    const times = data.response_times.rows;
    const minutes = (v) => (v === null ? null : Math.round((v / 60) * 10) / 10);
    draw("response_times", {
      type: "bar",
      data: {
        labels: times.map((r) => r.label),
        datasets: [
          { label: "p50 (minutes)", data: times.map((r) => minutes(r.p50_seconds)), backgroundColor: palette[0] },
          { label: "p90 (minutes)", data: times.map((r) => minutes(r.p90_seconds)), backgroundColor: "#6fc0ad" },
        ],
      },
      // Logarithmic: the bot answers in seconds, resolutions take hours or days.
      options: { scales: { y: { type: "logarithmic", title: { display: true, text: "minutes (log scale)" } } } },
    });

    const ai = data.ai;
    const bots = ai.bots;
    const aiDays = ai.days;
    const budget = ai.daily_token_budget;
    draw("ai_days", {
      type: "bar",
      data: {
        labels: aiDays.map((d) => d.day),
        datasets: [
          { type: "bar", label: "Tokens", data: aiDays.map((d) => d.tokens), backgroundColor: palette[2] },
          { type: "line", label: "Daily budget", data: aiDays.map(() => budget), borderColor: palette[4], backgroundColor: palette[4], borderDash: [6, 4], pointRadius: 0, tension: 0 },
        ],
      },
      options: { plugins: { legend: { position: "bottom", labels: seriesLegend } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    draw("ai_bots", {
      type: "bar",
      data: {
        labels: bots.map((b) => short(b.name)),
        datasets: [
          { label: "Prompt tokens", data: bots.map((b) => b.prompt_tokens), backgroundColor: palette[2] },
          { label: "Completion tokens", data: bots.map((b) => b.completion_tokens), backgroundColor: "#c4b5fd" },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
        plugins: { tooltip: { callbacks: { footer: (items) => "≈ " + bots[items[0].dataIndex].cost.toFixed(4) + " " + ai.currency } } },
      },
    });

    const answered = data.who_answered.rows;
    draw("who_answered", {
      type: "doughnut",
      data: { labels: answered.map((r) => r.label), datasets: [{ data: answered.map((r) => r.count), backgroundColor: palette }] },
      options: { plugins: { legend: { position: "right" }, tooltip: { callbacks: { label: (c) => c.label + ": " + c.raw + " (" + percent(answered[c.dataIndex].share) + ")" } } } },
    });

    const steps = data.delivery.steps;
    draw("delivery", {
      type: "bar",
      data: { labels: steps.map((r) => r.label), datasets: [{ label: "Messages", data: steps.map((r) => r.count), backgroundColor: [palette[0], palette[1], "#1a73e8", palette[4]] }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    const errors = data.delivery.errors;
    draw("delivery_errors", {
      type: "bar",
      data: { labels: errors.map((r) => short((r.code === null ? "?" : r.code) + " " + r.title)), datasets: [{ label: "Failed messages", data: errors.map((r) => r.count), backgroundColor: palette[4] }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    const stages = data.leads.stages;
    draw("lead_funnel", {
      type: "bar",
      data: {
        labels: stages.map((r) => r.label),
        datasets: [
          { label: "Reached", data: stages.map((r) => r.reached), backgroundColor: palette[2] },
          { label: "In stage now", data: stages.map((r) => r.now), backgroundColor: "#c4b5fd" },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    const sources = data.leads.sources;
    draw("lead_sources", {
      type: "doughnut",
      data: { labels: sources.map((r) => r.label), datasets: [{ data: sources.map((r) => r.count), backgroundColor: palette }] },
      options: { plugins: { legend: { position: "right" } } },
    });
  });
})();
