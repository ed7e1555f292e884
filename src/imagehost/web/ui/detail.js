// One image: a large preview with its placeholder, the meta=true facts, the record's data
// (edited as JSON, saved as a merge patch), the eager variants, sharing, and delete.
import { api, ApiError, apiUrl, authHeaders } from "./api.js";
import { drawBlurhash } from "./blurhash.js";
import { announce, confirmDialog, formatBytes, formatTime, h } from "./dom.js";
import { derivedUrls, fetchPrivately, isPublic, releaseImages } from "./images.js";
import { can, session } from "./session.js";
import { shareBuilder } from "./share.js";

const PREVIEW_SIZES = [800, 1600];

export function render(main, id) {
  const heading = h("h1", { id: "detail-title" }, `Image ${id}`);
  main.replaceChildren(h("p", {}, h("a", { href: "#/" }, "← Gallery")), heading);
  let alive = true;
  show(main, heading, id, () => alive).catch((error) => {
    if (alive) main.append(h("p", { class: "error", role: "alert" }, error.message));
  });
  return () => {
    alive = false;
    releaseImages();
  };
}

async function show(main, heading, id, alive) {
  let record = null;
  let recordError = null;
  try {
    record = await api(`images/${id}`);
  } catch (error) {
    if (!(error instanceof ApiError) || ![401, 403].includes(error.status)) throw error;
    recordError = error;
  }
  if (!alive()) return;
  if (record) heading.textContent = record.file;
  const published = record ? isPublic(record) : true;
  const meta = await loadMeta(id, published);
  if (!alive()) return;
  if (!record && !meta) throw new ApiError(404, "not_found", `Image ${id} is not public.`);
  if (!record) heading.textContent = meta.file;
  const width = record?.width ?? meta?.width;
  const height = record?.height ?? meta?.height;
  const file = record?.file ?? meta?.file;

  const left = h("div", {}, await preview(id, file, published, width, height, meta),
    await variants(id, published));
  const right = h("div", {}, facts(record, meta));
  if (record) right.append(metadataEditor(record));
  else right.append(signInPrompt(recordError));
  right.append(shareBuilder({ id, published, width, height }));
  if (record && can("write")) right.append(deleteSection(record));
  main.append(h("div", { class: "detail" }, left, right));
}

async function loadMeta(id, published) {
  const [url] = await derivedUrls([{ id, params: { meta: "true" } }]);
  if (!url) return null;
  try {
    const response = await fetch(url, { headers: published ? {} : authHeaders() });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function preview(id, file, published, width, height, meta) {
  const figure = h("figure", { class: "preview" });
  figure.style.aspectRatio = width && height ? `${width} / ${height}` : "4 / 3";
  if (meta?.dominant_color) figure.style.backgroundColor = meta.dominant_color;
  const canvas = h("canvas", { "aria-hidden": "true" });
  if (meta && drawBlurhash(meta.blurhash, canvas)) figure.append(canvas);
  const img = h("img", { alt: file, decoding: "async", id: "preview-image" });
  img.addEventListener("load", () => canvas.remove());
  img.addEventListener("error", () => img.classList.add("failed"));
  const links = PREVIEW_SIZES.map((size) => ({ id, params: { w: size, h: size, format: "auto" } }));
  const urls = await derivedUrls(links);
  if (urls.some((url) => url === null)) {
    const variant = session.variants[0];
    if (variant) img.src = apiUrl(`images/${id}/image`, { variant }).toString();
  } else if (published) {
    img.srcset = urls.map((url, index) => `${url} ${PREVIEW_SIZES[index]}w`).join(", ");
    img.sizes = "(max-width: 760px) 100vw, 60vw";
    img.src = urls[0];
  } else {
    fetchPrivately(urls[0]).then((objectUrl) => { img.src = objectUrl; })
      .catch(() => img.classList.add("failed"));
  }
  figure.append(img);
  return figure;
}

async function variants(id, published) {
  if (!session.variants.length) return null;
  const list = h("ul", { class: "variants" });
  for (const suffix of session.variants) {
    const url = apiUrl(`images/${id}/image`, { variant: suffix });
    const img = h("img", { alt: `Variant ${suffix}`, loading: "lazy" });
    img.addEventListener("error", () => img.classList.add("failed"));
    if (published) img.src = url.toString();
    else fetchPrivately(url.toString()).then((objectUrl) => { img.src = objectUrl; })
      .catch(() => img.classList.add("failed"));
    list.append(h("li", {}, published ? h("a", { href: url.toString() }, img) : img,
      h("span", { class: "caption" }, suffix)));
  }
  return h("section", { "aria-labelledby": "variants-title" },
    h("h2", { id: "variants-title" }, "Variants"), list);
}

function facts(record, meta) {
  const rows = [];
  const add = (name, ...value) => {
    if (value.some((part) => part !== undefined && part !== null && part !== "")) {
      rows.push(h("dt", {}, name), h("dd", {}, ...value));
    }
  };
  const width = record?.width ?? meta?.width;
  const height = record?.height ?? meta?.height;
  add("Size", width && height ? `${width} × ${height} px` : "");
  add("Format", record?.format ?? meta?.format);
  add("Bytes", record ? formatBytes(record.bytes) : "");
  add("Status", record?.status);
  add("Uploaded", formatTime(record?.time));
  add("Published", formatTime(record?.published));
  if (meta) {
    add("Frames", meta.frames > 1 ? String(meta.frames) : "");
    add("Alpha", meta.has_alpha ? "yes" : "no");
    if (meta.dominant_color) {
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.backgroundColor = meta.dominant_color;
      add("Colour", swatch, meta.dominant_color);
    }
    add("BlurHash", h("code", {}, meta.blurhash));
    for (const [name, value] of Object.entries(meta.exif || {})) add(exifLabel(name), String(value));
    if (meta.gps) add("GPS", `${meta.gps.latitude}, ${meta.gps.longitude}`);
  }
  add("SHA-256", record ? h("code", {}, record.sha256) : "");
  return h("section", { "aria-labelledby": "facts-title" },
    h("h2", { id: "facts-title" }, "Facts"), h("dl", { class: "facts" }, rows));
}

function exifLabel(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function signInPrompt(error) {
  return h("div", { class: "panel prompt" },
    h("p", {}, h("strong", {}, "The record's data needs an API key with the read scope.")),
    h("p", {}, error ? error.message : ""));
}

// RFC 7396: the patch that turns `before` into `after` (null removes a key).
export function mergePatch(before, after) {
  const patch = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (isObject(old) && isObject(value)) {
      const inner = mergePatch(old, value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function metadataEditor(record) {
  const writable = can("write");
  let saved = record.data;
  const area = h("textarea", { id: "metadata", rows: 10, spellcheck: "false",
    "aria-describedby": "metadata-help metadata-message", readonly: !writable });
  area.value = JSON.stringify(saved, null, 2);
  const message = h("p", { id: "metadata-message", "aria-live": "polite" });
  const save = h("button", { type: "submit" }, "Save");
  const form = h("form", { class: "field", "aria-labelledby": "metadata-title" },
    h("h2", { id: "metadata-title" }, "Data"),
    h("label", { for: "metadata" }, "Metadata"), area,
    h("p", { id: "metadata-help", class: "muted" }, writable
      ? "A JSON object. Saving sends the changes as a merge patch: a key you remove goes, "
        + "and a key set to null goes too."
      : "Read-only: saving needs an API key with the write scope."),
    writable ? h("div", { class: "row" }, save) : null, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let data;
    try {
      data = JSON.parse(area.value);
      if (!isObject(data)) throw new Error("The metadata must be a JSON object, such as {\"site\": \"a\"}.");
    } catch (error) {
      message.className = "error";
      message.textContent = error instanceof SyntaxError ? `Not valid JSON: ${error.message}` : error.message;
      area.setAttribute("aria-invalid", "true");
      area.focus();
      return;
    }
    area.removeAttribute("aria-invalid");
    const patch = mergePatch(saved, data);
    if (!Object.keys(patch).length) {
      message.className = "muted";
      message.textContent = "Nothing changed.";
      return;
    }
    save.disabled = true;
    try {
      const updated = await api(`images/${record.id}`, { method: "PATCH", json: patch,
        contentType: "application/merge-patch+json" });
      saved = updated.data;
      area.value = JSON.stringify(saved, null, 2);
      message.className = "ok";
      message.textContent = "Saved.";
    } catch (error) {
      message.className = "error";
      message.textContent = `Not saved: ${error.message}`;
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

function deleteSection(record) {
  const button = h("button", { type: "button", class: "danger" }, "Delete");
  const message = h("p", { role: "alert", class: "error" });
  button.addEventListener("click", async () => {
    const sure = await confirmDialog(`Delete ${record.file}?`,
      "The original, its variants and every derived size go. The record stays as a tombstone.",
      "Yes, delete");
    if (!sure) {
      button.focus();
      return;
    }
    try {
      await api(`images/${record.id}`, { method: "DELETE" });
      announce(`Deleted ${record.file}.`);
      window.location.hash = "#/";
    } catch (error) {
      message.textContent = `Not deleted: ${error.message}`;
    }
  });
  return h("section", { "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title" }, "Delete"), h("div", { class: "row" }, button), message);
}
