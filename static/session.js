// J4: warn before the idle timeout and offer "Stay signed in", in a modal dialog (focus
// stays in it; Escape closes it). Without JavaScript the page simply expires; the server
// decides either way (D5).
(function () {
  var box = document.getElementById("idle-warning");
  if (!box) { return; }
  var deadline = Date.now() + 1000 * parseInt(box.dataset.deadline, 10);
  var warnAt = deadline - 1000 * parseInt(box.dataset.warn, 10);
  function tick() {
    var now = Date.now();
    if (now >= deadline) { window.location.assign(box.dataset.expiredUrl); return; }
    if (now >= warnAt && !box.open && !box.dataset.shown) {
      box.dataset.shown = "1";
      box.showModal();
      var button = box.querySelector("button");
      if (button) { button.focus(); }
    }
    window.setTimeout(tick, 1000);
  }
  tick();
})();
