// The derived-URL builder: Width, Height, Fit, Format, Quality -> a live preview and the
// Image URL (signed when the server asks for it), and a temporary link (url=true).
import { authHeaders, errorOf } from "./api.js";
import { debounce, h } from "./dom.js";
import { derivedUrls, fetchPrivately } from "./images.js";
import { can, session } from "./session.js";

export function shareBuilder({ id, published, width, height }) {
  const number = (name, label, attributes) => {
    const input = h("input", { id: `share-${name}`, type: "number", inputmode: "numeric",
      ...attributes });
    return [input, h("div", { class: "field" }, h("label", { for: input.id }, label), input)];
  };
  const [w, wField] = number("w", "Width", { min: 1, max: session.max_side, value: 640,
    placeholder: width ? String(width) : "" });
  const [hgt, hField] = number("h", "Height", { min: 1, max: session.max_side,
    placeholder: height ? String(height) : "" });
  const [quality, qField] = number("quality", "Quality", { min: 1, max: 100,
    placeholder: "default" });
  const fit = h("select", { id: "share-fit" },
    session.fits.map((name) => h("option", { value: name }, name)));
  const format = h("select", { id: "share-format" },
    h("option", { value: "" }, "as the original"),
    h("option", { value: "auto", selected: true }, "auto (AVIF, WebP or JPEG)"),
    session.formats.map((name) => h("option", { value: name }, name)));
  const output = h("input", { id: "share-url", type: "text", readonly: true,
    "aria-describedby": "share-message" });
  const copy = h("button", { type: "button", class: "secondary" }, "Copy");
  const temporary = h("button", { type: "button", class: "secondary" }, "Temporary link");
  const temporaryOutput = h("input", { id: "share-temporary", type: "text", readonly: true });
  const temporaryField = h("div", { class: "field", hidden: true },
    h("label", { for: "share-temporary" }, "Temporary URL"),
    h("div", { class: "copy-row" }, temporaryOutput));
  const message = h("p", { id: "share-message", "aria-live": "polite" });
  const previewImage = h("img", { class: "share-preview", id: "share-preview",
    alt: "Preview of the image at this URL" });

  function params() {
    const query = new URLSearchParams();
    if (w.value) query.set("w", w.value);
    if (hgt.value) query.set("h", hgt.value);
    if ((w.value || hgt.value) && fit.value !== "inside") query.set("fit", fit.value);
    if (format.value) query.set("format", format.value);
    if (quality.value) query.set("quality", quality.value);
    return query;
  }

  let generation = 0;
  let previewUrl = "";
  async function update() {
    const mine = ++generation;
    message.className = "";
    message.textContent = "";
    const [url] = await derivedUrls([{ id, params: params() }]);
    if (mine !== generation) return;
    if (!url) {
      output.value = "";
      message.className = "error";
      message.textContent = "This server signs image URLs: sign in with a key that has the "
        + "read scope to build one.";
      return;
    }
    output.value = url;
    try {
      if (published) {
        const response = await fetch(url);
        if (!response.ok) throw await errorOf(response);
        const blob = await response.blob();
        if (mine !== generation) return;
        if (previewUrl) URL.revokeObjectURL(previewUrl);
        previewUrl = URL.createObjectURL(blob);
        previewImage.src = previewUrl;
      } else {
        previewImage.src = await fetchPrivately(url);
      }
    } catch (error) {
      if (mine !== generation) return;
      message.className = "error";
      message.textContent = error.message;
      previewImage.removeAttribute("src");
    }
  }
  const later = debounce(update, 350);
  for (const control of [w, hgt, quality]) control.addEventListener("input", later);
  for (const control of [fit, format]) control.addEventListener("change", update);

  copy.addEventListener("click", async () => {
    output.select();
    try {
      await navigator.clipboard.writeText(output.value);
    } catch {
      document.execCommand("copy");
    }
    message.className = "ok";
    message.textContent = "Copied.";
  });

  temporary.addEventListener("click", async () => {
    const query = params();
    query.set("url", "true");
    message.textContent = "";
    try {
      const [url] = await derivedUrls([{ id, params: query }]);
      if (!url) throw new Error("Sign in with a key that has the read scope to make a temporary link.");
      const response = await fetch(url, { headers: published ? {} : authHeaders() });
      if (!response.ok) throw await errorOf(response);
      const link = await response.json();
      temporaryOutput.value = link.url;
      temporaryField.hidden = false;
      message.className = "ok";
      message.textContent = `Temporary link made; it works until ${new Date(link.expires).toLocaleString()}.`;
      temporaryOutput.focus();
      temporaryOutput.select();
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  });

  const section = h("section", { "aria-labelledby": "share-title" },
    h("h2", { id: "share-title" }, "Share"),
    h("div", { class: "builder" }, wField, hField,
      h("div", { class: "field" }, h("label", { for: "share-fit" }, "Fit"), fit),
      h("div", { class: "field" }, h("label", { for: "share-format" }, "Format"), format),
      qField),
    previewImage,
    h("div", { class: "field" }, h("label", { for: "share-url" }, "Image URL"),
      h("div", { class: "copy-row" }, output, copy)),
    h("p", { class: "row" }, temporary),
    temporaryField,
    message,
    session.signing && !can("read")
      ? h("p", { class: "muted" }, "URLs are signed here; signing needs the read scope.") : null);
  update();
  return section;
}
