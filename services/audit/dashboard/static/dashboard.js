/* Draws the dashboard's charts with Apache ECharts, served by the audit service itself. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var L = data.labels;
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var c = echarts.init(el, null, { renderer: "canvas" });
    // ECharts draws on a later animation frame; mark the chart once it has
    // (tests and screenshot tools wait for this instead of guessing a delay).
    c.on("finished", function () { el.setAttribute("data-drawn", "true"); });
    c.setOption(Object.assign({ animation: false, tooltip: { trigger: "axis" } }, option));
  }
  var series = Object.keys(data.compliance_series).map(function (m) {
    return { name: L.milestones[m] || m, type: "line", connectNulls: true, data: data.compliance_series[m] };
  });
  chart("chart-compliance", {
    legend: {}, xAxis: { type: "category", data: data.days },
    yAxis: { type: "value", min: 0, max: 1 }, series: series
  });
  chart("chart-breaches", {
    xAxis: { type: "category", data: data.days }, yAxis: { type: "value", minInterval: 1 },
    series: [{ name: L.breaches_chart, type: "bar", data: data.breaches, itemStyle: { color: "#c0392b" } }]
  });
  var ratings = ["1", "2", "3", "4", "5"];
  chart("chart-satisfaction", {
    xAxis: { type: "category", data: ratings }, yAxis: { type: "value", minInterval: 1 },
    series: [{ name: L.satisfaction_chart, type: "bar",
               data: ratings.map(function (r) { return data.satisfaction[r]; }) }]
  });
})();
