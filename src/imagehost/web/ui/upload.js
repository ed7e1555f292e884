// Uploading: a file input and drag and drop of many files, one progress bar per file, each
// file's refusal shown with it, optional JSON data for the whole batch (POST /images).
import { apiUrl, authHeaders } from "./api.js";
import { announce, h } from "./dom.js";

const PARALLEL = 3;

export function uploadPanel({ onUploaded }) {
  const input = h("input", { id: "upload-input", type: "file", multiple: true,
    accept: "image/*", "aria-describedby": "upload-hint" });
  const data = h("textarea", { id: "upload-data", rows: 2, spellcheck: "false",
    placeholder: '{"album": "summer"}', "aria-describedby": "upload-data-error" });
  const dataError = h("p", { id: "upload-data-error", class: "error", role: "alert" });
  const keepNames = h("input", { id: "upload-names", type: "checkbox" });
  const list = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const drop = h("div", { class: "drop", id: "upload-drop" },
    h("label", { for: "upload-input" }, "Upload images"), h("br"), input,
    h("p", { id: "upload-hint", class: "muted" },
      "Choose files or drop them here: JPEG, PNG, GIF, WebP, SVG and the other formats the "
      + "server accepts. Each is published at once."));
  const panel = h("section", { class: "panel", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload"), drop,
    h("div", { class: "field" },
      h("label", { for: "upload-data" }, "Data for this batch (JSON object, optional)"), data),
    dataError,
    h("p", {}, keepNames, " ", h("label", { for: "upload-names" },
      "Store under the file names (an image already at that path is replaced)")),
    list);

  function batchData() {
    const text = data.value.trim();
    if (!text) return null;
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new Error(`The data is not valid JSON: ${error.message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error("The data must be a JSON object, such as {\"album\": \"summer\"}.");
    }
    return text;
  }

  async function uploadAll(files) {
    let json;
    try {
      json = batchData();
      dataError.textContent = "";
      data.removeAttribute("aria-invalid");
    } catch (error) {
      dataError.textContent = error.message;
      data.setAttribute("aria-invalid", "true");
      data.focus();
      return;
    }
    const queue = [...files].map((file) => ({ file, row: uploadRow(file) }));
    list.prepend(...queue.map(({ row }) => row.element).reverse());
    let failed = 0;
    const worker = async () => {
      while (queue.length) {
        const { file, row } = queue.shift();
        const record = await uploadOne(file, json, keepNames.checked, row);
        if (record) onUploaded(record);
        else failed += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, files.length) }, worker));
    announce(`${files.length - failed} of ${files.length} uploaded`
      + (failed ? `, ${failed} refused.` : "."));
  }

  input.addEventListener("change", () => {
    if (input.files.length) uploadAll([...input.files]).finally(() => { input.value = ""; });
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = [...event.dataTransfer.files];
    if (files.length) uploadAll(files);
  });
  return panel;
}

function uploadRow(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
  const result = h("span", { class: "result" });
  const element = h("li", {}, h("span", { class: "name", title: file.name }, file.name),
    progress, result);
  return { element, progress, result };
}

// XMLHttpRequest, because fetch reports no upload progress.
function uploadOne(file, json, keepName, row) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("image", file, file.name);
    if (json) form.append("data", json);
    if (keepName) form.append("path", file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl("images"));
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) row.progress.value = Math.round(99 * event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      if (xhr.status === 201 || xhr.status === 200) {
        row.progress.value = 100;
        row.result.className = "result ok";
        row.result.textContent = `Uploaded as ${body.file}`;
        resolve(body);
      } else {
        row.progress.removeAttribute("value");
        row.progress.hidden = true;
        row.result.className = "result error";
        row.result.setAttribute("role", "alert");
        row.result.textContent = `${file.name} refused: ${body.message || xhr.statusText || xhr.status}`;
        resolve(null);
      }
    });
    xhr.addEventListener("error", () => {
      row.progress.hidden = true;
      row.result.className = "result error";
      row.result.textContent = `${file.name}: the upload failed (connection lost).`;
      resolve(null);
    });
    xhr.send(form);
  });
}
