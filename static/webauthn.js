// Security keys and passkeys (D3). Without script, or in a browser without WebAuthn,
// everything marked data-webauthn-only stays hidden and the other methods work as before.
// A form marked data-webauthn="create" or "get" carries the server's options (JSON) in
// data-options; on submit it asks the browser for a credential, puts the answer (JSON)
// in its hidden "credential" field and sends the form. The server checks everything.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) { return; }
  document.querySelectorAll("[data-webauthn-only]").forEach(function (el) { el.hidden = false; });
  document.querySelectorAll("[data-webauthn-fallback]").forEach(function (el) { el.hidden = true; });

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }
  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return { publicKey: o };
  }
  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return { publicKey: o };
  }
  function answer(credential) {
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) { response.userHandle = toText(r.userHandle); }
    }
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: response, authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults()
    });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    var creating = form.getAttribute("data-webauthn") === "create";
    var failed = form.querySelector("[data-webauthn-failed]");
    form.addEventListener("submit", function (event) {
      var field = form.querySelector("input[name=credential]");
      if (field.value) { return; }
      event.preventDefault();
      if (failed) { failed.hidden = true; }
      var options = JSON.parse(form.getAttribute("data-options"));
      var asked = creating ? navigator.credentials.create(creationOptions(options))
                           : navigator.credentials.get(requestOptions(options));
      asked.then(function (credential) {
        field.value = answer(credential);
        form.submit();
      }, function () {
        if (failed) { failed.hidden = false; failed.focus(); }
      });
    });
  });
})();
