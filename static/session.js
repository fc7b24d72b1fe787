// J4: warn before the idle timeout and offer "Stay signed in", in a modal dialog (focus
// stays in it; Escape closes it). Without JavaScript the page simply expires; the server
// decides either way (D5).
//
// At the deadline the page asks the server how long is left (a request that never
// counts as activity) rather than loading a page, which would: 0 means the session is
// over and the page shows "Session expired"; more means another tab kept it alive, and
// the timer starts again from the server's answer.
(function () {
  var box = document.getElementById("idle-warning");
  if (!box) { return; }
  var deadline, warnAt, asking = false;
  var warnMs = 1000 * parseInt(box.dataset.warn, 10);

  function arm(seconds) {
    deadline = Date.now() + 1000 * seconds;
    warnAt = deadline - warnMs;
  }

  function expired() { window.location.assign(box.dataset.expiredUrl); }

  function ask() {
    asking = true;
    window.fetch(box.dataset.remainingUrl, {
      credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : { remaining: 0 };
    }).then(function (answer) {
      var left = parseInt(answer.remaining, 10) || 0;
      if (left <= 0) { expired(); return; }
      arm(left);
      if (box.open && Date.now() < warnAt) { box.close(); delete box.dataset.shown; }
      asking = false;
    }, function () {
      asking = false;  // offline: ask again at the next tick
    });
  }

  function tick() {
    var now = Date.now();
    if (now >= deadline) {
      if (!asking) { ask(); }
    } else if (now >= warnAt && !box.open && !box.dataset.shown) {
      box.dataset.shown = "1";
      box.showModal();
      var button = box.querySelector("button");
      if (button) { button.focus(); }
    }
    window.setTimeout(tick, 1000);
  }

  arm(parseInt(box.dataset.deadline, 10));
  tick();
})();
