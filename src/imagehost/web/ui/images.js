// URLs of derived images (GET /images/{id}/image?...): signed when the server asks for
// signatures (URL_SIGNING_KEY), and fetched with the key for images that are not public.
import { api, apiUrl, authHeaders, errorOf } from "./api.js";
import { can, session } from "./session.js";

export const THUMB_SIZES = [200, 400, 600];
const THUMB_SIZES_ATTRIBUTE = "(max-width: 480px) 46vw, 200px";
const UNSIGNED = new Set(["variant", "preset"]);
const signatures = new Map();
const MAX_SIGNATURES = 6000;

export function isPublic(record) {
  return record.status === "active";
}

function needsSignature(params) {
  return session.signing && [...params.keys()].some((name) => !UNSIGNED.has(name));
}

// Absolute URL strings for [{id, params}], in order; null where a signature is needed and
// this caller may not sign (no read scope). `expiresIn` (seconds) makes the signature expire.
export async function derivedUrls(links, { expiresIn } = {}) {
  const wanted = links.map(({ id, params }) => ({ id, params: new URLSearchParams(params) }));
  const toSign = wanted.filter(({ id, params }) => needsSignature(params)
    && (expiresIn || !signatures.has(`${id}?${params}`)));
  if (toSign.length && can("read")) {
    if (signatures.size > MAX_SIGNATURES) signatures.clear();
    const { queries } = await api("ui/api/sign", {
      method: "POST",
      json: { links: toSign.map(({ id, params }) => ({ id, query: params.toString() })),
        expires_in: expiresIn || null },
    });
    toSign.forEach(({ id, params }, index) => signatures.set(`${id}?${params}`, queries[index]));
  }
  return wanted.map(({ id, params }) => {
    const url = apiUrl(`images/${id}/image`);
    if (needsSignature(params)) {
      const signed = signatures.get(`${id}?${params}`);
      if (!signed) return null;
      url.search = signed;
      if (expiresIn) signatures.delete(`${id}?${params}`);
    } else {
      url.search = params.toString();
    }
    return url.toString();
  });
}

function thumbParams(size) {
  return { w: size, h: size, fit: "cover", format: "auto" };
}

// A thumbnail source for each record: {srcset, src} for public images, {private} for the
// others (fetched with the key when in view), or {src} of a stored variant when signatures
// are needed and this caller cannot have them.
export async function thumbnails(records) {
  const links = [];
  for (const record of records) {
    const sizes = isPublic(record) ? THUMB_SIZES : [THUMB_SIZES[1]];
    for (const size of sizes) links.push({ id: record.id, params: thumbParams(size) });
  }
  const urls = await derivedUrls(links);
  const sources = new Map();
  let at = 0;
  for (const record of records) {
    const count = isPublic(record) ? THUMB_SIZES.length : 1;
    const mine = urls.slice(at, at + count);
    at += count;
    if (mine.some((url) => url === null)) {
      const variant = session.variants[session.variants.length - 1];
      sources.set(record.id, variant && isPublic(record)
        ? { src: apiUrl(`images/${record.id}/image`, { variant }).toString() } : {});
    } else if (isPublic(record)) {
      sources.set(record.id, {
        src: mine[1],
        srcset: mine.map((url, index) => `${url} ${THUMB_SIZES[index]}w`).join(", "),
        sizes: THUMB_SIZES_ATTRIBUTE,
      });
    } else {
      sources.set(record.id, { private: mine[0] });
    }
  }
  return sources;
}

// <img> for a thumbnail source; private ones load once they come near the viewport.
export function thumbnailImage(source, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  img.loading = "lazy";
  img.decoding = "async";
  img.width = 180;
  img.height = 180;
  img.addEventListener("error", () => img.classList.add("failed"));
  if (source.private) loadPrivately(img, source.private);
  else if (source.src) {
    if (source.srcset) {
      img.srcset = source.srcset;
      img.sizes = source.sizes;
    }
    img.src = source.src;
  }
  return img;
}

const objectUrls = new Set();
const pending = new Map();
const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    const url = pending.get(entry.target);
    pending.delete(entry.target);
    fetchPrivately(url).then((objectUrl) => { entry.target.src = objectUrl; })
      .catch(() => entry.target.classList.add("failed"));
  }
}, { rootMargin: "600px" });

export function loadPrivately(img, url) {
  pending.set(img, url);
  observer.observe(img);
}

// An object URL of an image read with the key (for images that are not public).
export async function fetchPrivately(url) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw await errorOf(response);
  const objectUrl = URL.createObjectURL(await response.blob());
  objectUrls.add(objectUrl);
  return objectUrl;
}

// A view is going away: its private images' memory is given back.
export function releaseImages() {
  for (const img of pending.keys()) observer.unobserve(img);
  pending.clear();
  objectUrls.forEach((url) => URL.revokeObjectURL(url));
  objectUrls.clear();
}
