/* ripen page views. <script src="/track.js" data-endpoint="https://API/events/web" defer></script>
   A link from an email carries ?rv=<visitor token>; this keeps it for the tab (sessionStorage, no
   cookie), takes it out of the address bar and posts each page view. No token: nothing is sent. */
(function (w, s) {
  var api = (s && s.getAttribute("data-endpoint")) || "/events/web", t, u;
  try {
    u = new URL(w.location.href);
    t = u.searchParams.get("rv");
    if (t) { sessionStorage.setItem("ripen-rv", t); u.searchParams.delete("rv"); history.replaceState(history.state, "", u); }
    t = sessionStorage.getItem("ripen-rv");
  } catch (e) { return; }
  if (!t) return;
  var b = JSON.stringify({ token: t, url: u.href });
  if (!(navigator.sendBeacon && navigator.sendBeacon(api, b))) fetch(api, { method: "POST", body: b, keepalive: true });
})(window, document.currentScript);
