// The dashboard's only script: it swaps in the cards the controller
// pushes (server-sent events), so that the page follows the releases
// without a reload. The cards come rendered and escaped by the server.
"use strict";
(function () {
  const live = document.getElementById("live");
  let version = document.body.dataset.version;
  const csrf = document.querySelector("meta[name=csrf]");
  let es = null;
  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }
  function connect() {
    es = new EventSource("/events?v=" + encodeURIComponent(version));
    es.onopen = function () { live.textContent = "live"; live.className = "live on"; };
    es.onerror = function () { live.textContent = "reconnecting…"; live.className = "live off"; };
    es.addEventListener("card", function (e) {
      const card = fragment(e.data);
      if (!card) { return; }
      // Cards are pushed alike to every page: a signed-in page puts its
      // own CSRF token in their forms.
      if (csrf) {
        card.querySelectorAll("input[name=csrf]").forEach(function (i) { i.value = csrf.content; });
      }
      const old = document.getElementById(card.id);
      if (old) {
        const open = old.querySelector("details[open]");
        if (open) { const d = card.querySelector("details"); if (d) { d.open = true; } }
        old.replaceWith(card);
      } else {
        document.getElementById("services").append(card);
      }
    });
    es.addEventListener("gone", function (e) {
      const old = document.getElementById(e.data);
      if (old) { old.remove(); }
    });
    es.addEventListener("banner", function (e) {
      const b = fragment(e.data);
      const old = document.getElementById("banner");
      if (b && old) { old.replaceWith(b); }
    });
    es.addEventListener("version", function (e) { version = e.data; });
  }
  connect();
})();
