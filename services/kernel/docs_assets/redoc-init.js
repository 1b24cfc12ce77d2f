// Starts ReDoc on the service's own OpenAPI document (no inline script: CSP-friendly).
window.addEventListener("load", function () {
  Redoc.init(
    document.body.dataset.openapiUrl,
    { hideDownloadButton: false, expandResponses: "200,201" },
    document.getElementById("redoc"),
  );
});
