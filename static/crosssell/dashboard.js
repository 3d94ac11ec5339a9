/* The store dashboard's charts (templates/crosssell/dashboard/report.html).
 * Each <canvas data-chart="ID"> reads its data from the json_script block #ID:
 * {currency, labels: [YYYY-MM-DD...], series: {treatment_aov, holdout_aov, treatment_rpc, holdout_rpc}}
 * and draws average order value and revenue per customer, with cross-sell vs holdout, with the
 * vendored Chart.js (static/crosssell/vendor/chartjs). No data is written inline in the page. */
(function () {
  "use strict";

  function money(currency) {
    var format;
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
    } catch (e) {
      format = { format: function (v) { return v.toFixed(2) + " " + currency; } };
    }
    return function (value) { return value === null || value === undefined ? "–" : format.format(value); };
  }

  function line(label, data, color, dashed) {
    return {
      label: label,
      data: data,
      borderColor: color,
      backgroundColor: color,
      borderDash: dashed ? [6, 4] : [],
      borderWidth: 2,
      pointRadius: data.length > 60 ? 0 : 3,
      spanGaps: true,
      tension: 0.2,
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var chart = JSON.parse(source.textContent);
    var fmt = money(chart.currency);
    var s = chart.series;
    canvas.crosssellChart = new Chart(canvas, {
      type: "line",
      data: {
        labels: chart.labels,
        datasets: [
          line("Average order value, with cross-sell", s.treatment_aov, "#1f77b4", false),
          line("Average order value, holdout (no cross-sell)", s.holdout_aov, "#9ecae1", true),
          line("Revenue per customer, with cross-sell", s.treatment_rpc, "#2ca02c", false),
          line("Revenue per customer, holdout (no cross-sell)", s.holdout_rpc, "#a1d99b", true),
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, ticks: { callback: function (v) { return fmt(v); } } },
          x: { ticks: { maxTicksLimit: 12 } },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed.y); } } },
        },
      },
    });
  }

  function init() {
    var canvases = document.querySelectorAll("[data-crosssell-dashboard] canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) { draw(canvases[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
