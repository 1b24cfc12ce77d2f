// The portal's own script: sends the page's forms to the portal's JSON API.
"use strict";

(function () {
  const words = document.getElementById("words");
  const notice = document.getElementById("notice");

  function say(text) {
    if (notice) { notice.textContent = text; }
  }

  async function send(path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) { headers.Authorization = "Bearer " + token; }
    const response = await fetch(path, {
      method: "POST", headers: headers, body: JSON.stringify(body), credentials: "omit",
    });
    let doc = {};
    try { doc = await response.json(); } catch (e) { doc = {}; }
    if (!response.ok) {
      throw new Error(doc.detail || doc.title || String(response.status));
    }
    return doc;
  }

  function busy(form, on) {
    form.querySelectorAll("button").forEach(function (b) { b.disabled = on; });
  }

  const caseCard = document.getElementById("case");
  if (caseCard) {
    const number = caseCard.dataset.case;
    const token = caseCard.dataset.token;
    document.querySelectorAll("form[data-action]").forEach(function (form) {
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        const action = form.dataset.action;
        let body;
        if (action === "confirm") {
          const picked = form.querySelector("input[name=satisfaction]:checked");
          if (!picked) { form.querySelector("input[name=satisfaction]").focus(); return; }
          const comment = form.querySelector("textarea[name=comment]").value.trim();
          body = { satisfaction: Number(picked.value), comment: comment || null };
        } else {
          const reason = form.querySelector("textarea[name=reason]");
          if (!reason.value.trim()) { reason.focus(); return; }
          body = { reason: reason.value.trim() };
        }
        busy(form, true);
        try {
          await send("/v1/customer/complaints/" + encodeURIComponent(number) + "/" + action, body, token);
          say(words.dataset.sent);
          window.location.reload();
        } catch (error) {
          say(words.dataset.failed + error.message);
          busy(form, false);
        }
      });
    });
  }

  const request = document.getElementById("code-request");
  const exchange = document.getElementById("code-exchange");
  if (request && exchange) {
    let number = "";
    request.addEventListener("submit", async function (event) {
      event.preventDefault();
      number = request.elements.case_number.value.trim();
      const phone = request.elements.phone.value.trim();
      if (!number || !phone) { (number ? request.elements.phone : request.elements.case_number).focus(); return; }
      busy(request, true);
      try {
        await send("/v1/customer/codes", { case_number: number, phone: phone });
        say(words.dataset.sent);
        exchange.hidden = false;
        exchange.elements.code.focus();
      } catch (error) {
        say(words.dataset.failed + error.message);
      } finally {
        busy(request, false);
      }
    });
    exchange.addEventListener("submit", async function (event) {
      event.preventDefault();
      const code = exchange.elements.code.value.trim();
      busy(exchange, true);
      try {
        const doc = await send("/v1/customer/tokens", { case_number: number, code: code });
        window.location.assign("/c/" + encodeURIComponent(number) + "?t=" + encodeURIComponent(doc.token));
      } catch (error) {
        say(words.dataset.failed + error.message);
        busy(exchange, false);
      }
    });
  }
})();
