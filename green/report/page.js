// green report: the chart's tooltip (hover or keyboard focus) and the sortable results table.
(function () {
  "use strict";
  var chart = document.getElementById("chart");
  var tip = document.getElementById("tooltip");

  function show(point) {
    var lines = JSON.parse(point.getAttribute("data-tip"));
    tip.textContent = "";
    lines.forEach(function (line, i) {
      var el = document.createElement(i === 0 ? "strong" : "div");
      el.textContent = line;
      if (/^(contended|flag:|meant for|\d+% of graph)/.test(line)) el.className = "warn";
      tip.appendChild(el);
    });
    tip.hidden = false;
    point.classList.add("active");
    var box = chart.getBoundingClientRect();
    var r = point.querySelector(".marker").getBoundingClientRect();
    var left = r.right - box.left + 10;
    if (left + tip.offsetWidth > box.width) left = r.left - box.left - tip.offsetWidth - 10;
    var top = Math.min(Math.max(0, r.top - box.top - 10), Math.max(0, box.height - tip.offsetHeight));
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = top + "px";
  }

  function hide(point) {
    tip.hidden = true;
    point.classList.remove("active");
  }

  if (chart && tip) {
    Array.prototype.forEach.call(chart.querySelectorAll(".point"), function (point) {
      point.addEventListener("mouseenter", function () { show(point); });
      point.addEventListener("mouseleave", function () { hide(point); });
      point.addEventListener("focus", function () { show(point); });
      point.addEventListener("blur", function () { hide(point); });
    });
  }

  // Sorting: numeric columns by the raw value each cell carries in data-v; empty values last.
  function sortBy(table, th, col) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var numeric = th.getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      if (x === "" || y === "") return (x === "") - (y === "");
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.querySelector("button").addEventListener("click", function () { sortBy(table, th, col); });
    });
  });
})();
