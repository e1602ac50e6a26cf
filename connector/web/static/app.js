/* The page's own script: times in the viewer's time zone. htmx does the rest. */
(function () {
  "use strict";
  var full = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric",
                                                 hour: "2-digit", minute: "2-digit"});
  var clock = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit", second: "2-digit"});

  function localise(root) {
    if (!root || !root.querySelectorAll) return;
    var times = root.matches && root.matches("time[datetime]") ? [root] : [];
    times = times.concat(Array.prototype.slice.call(root.querySelectorAll("time[datetime]")));
    times.forEach(function (el) {
      if (el.dataset.local) return;
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      el.title = el.textContent;  // the UTC original, on hover
      el.textContent = (el.dataset.style === "time" ? clock : full).format(when);
      el.dataset.local = "1";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var tz = document.getElementById("tz");
    if (tz) tz.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
    localise(document.body);
  });
  document.addEventListener("htmx:load", function (event) { localise(event.detail.elt); });
})();
