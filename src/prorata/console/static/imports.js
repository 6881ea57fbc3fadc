// The import page's upload: the file goes to the API's import route (streamed, bounded,
// idempotent), with the session's CSRF token; then the browser follows the import's page.
(function () {
  const form = document.getElementById("import-form");
  if (!form) return;
  const error = document.getElementById("import-error");
  const input = document.getElementById("file");
  const zone = document.getElementById("drop-zone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });
  // Offer only the saved mappings of the kind chosen.
  const kindSelect = document.getElementById("kind");
  const mappingSelect = document.getElementById("mapping_id");
  const showMappings = () => {
    for (const option of mappingSelect.options) {
      if (!option.dataset.kind) continue;
      option.hidden = option.dataset.kind !== kindSelect.value;
      if (option.hidden && option.selected) mappingSelect.value = "";
    }
  };
  kindSelect.addEventListener("change", showMappings);
  showMappings();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!input.files.length) {
      error.textContent = "Choose a file first.";
      error.hidden = false;
      return;
    }
    const fund = form.dataset.fund;
    const kind = document.getElementById("kind").value;
    const query = new URLSearchParams({ kind, dry_run: document.getElementById("dry_run").checked });
    // The reading options, sent only when set (the API's defaults otherwise).
    for (const name of ["number_format", "date_format", "sheet", "mapping_id"]) {
      const value = document.getElementById(name).value.trim();
      if (value) query.append(name, value);
    }
    const body = new FormData();
    body.append("file", input.files[0]);
    const response = await fetch(
      `/api/v1/funds/${fund}/imports?${query}`,
      {
        method: "POST",
        body,
        headers: { "X-CSRF-Token": form.dataset.csrf, "Idempotency-Key": crypto.randomUUID() },
      },
    );
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      window.location.assign(`/funds/${fund}/imports/${answer.id}`);
      return;
    }
    error.textContent = answer.detail || `The upload was refused (${response.status}).`;
    error.hidden = false;
  });
})();
