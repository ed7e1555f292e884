// The c2corg view: uploads not yet published (status incoming), newest first, with publish
// and delete for keys with the admin scope (c2corg's /publish and /delete use cases).
import { api, ApiError } from "./api.js";
import { announce, confirmDialog, formatBytes, formatTime, h } from "./dom.js";
import { releaseImages, thumbnailImage, thumbnails } from "./images.js";
import { can } from "./session.js";

const PAGE = 50;

export function render(main) {
  const heading = h("h1", { id: "c2corg-title" }, "c2corg uploads");
  const intro = h("p", { class: "muted" },
    "Images uploaded through /upload wait here until the document API publishes them; "
    + "unpublished ones expire. Publishing moves an image and its variants to active.");
  main.replaceChildren(heading, intro);
  if (!can("read")) {
    main.append(h("div", { class: "panel prompt" },
      h("p", {}, h("strong", {}, "Sign in to see the uploads waiting for publication.")),
      h("p", {}, "This view needs an API key with the read scope; publishing and deleting "
        + "need the admin scope.")));
    return () => {};
  }
  const count = h("p", { class: "count", "aria-live": "polite" });
  const body = h("tbody");
  const table = h("table", { class: "uploads-table", "aria-labelledby": "c2corg-title" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Thumbnail")),
      h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Uploaded"),
      h("th", { scope: "col" }, "Size"),
      can("admin") ? h("th", { scope: "col" }, "Actions") : null)),
    body);
  const moreButton = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const error = h("p", { class: "error", role: "alert" });
  main.append(count, h("div", { class: "scroll-x" }, table), h("div", { class: "more" }, moreButton), error);
  if (!can("admin")) {
    main.append(h("p", { class: "muted" }, "Publishing and deleting need the admin scope."));
  }

  let cursor = null;
  let total = 0;
  let alive = true;

  async function load() {
    const params = { status: "incoming", sort: "-id", limit: PAGE };
    if (cursor) params.cursor = cursor;
    try {
      const page = await api("images", { params });
      if (!alive) return;
      const sources = await thumbnails(page.items);
      body.append(...page.items.map((record) => row(record, sources.get(record.id))));
      total = page.total;
      cursor = page.next_cursor;
      moreButton.hidden = !cursor;
      showCount();
    } catch (failure) {
      if (alive) error.textContent = failure.message;
    }
  }

  function showCount() {
    count.textContent = total === 1 ? "1 upload waiting." : `${total} uploads waiting.`;
  }

  function done(tr, message) {
    tr.remove();
    total -= 1;
    showCount();
    announce(message);
    (body.querySelector("button") || heading).focus();
  }

  function row(record, source) {
    const key = record.file;
    const cells = [
      h("td", {}, h("span", { class: "thumb" }, thumbnailImage(source || {}, key))),
      h("td", { class: "mono" }, key),
      h("td", {}, formatTime(record.time)),
      h("td", {}, `${record.width} × ${record.height}, ${formatBytes(record.bytes)}`),
    ];
    const tr = h("tr", { dataset: { key } }, cells);
    if (can("admin")) {
      const publish = h("button", { type: "button", "aria-label": `Publish ${key}` }, "Publish");
      const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete ${key}` },
        "Delete");
      const problem = h("span", { class: "error" });
      publish.addEventListener("click", async () => {
        publish.disabled = true;
        try {
          await api("ui/api/publish", { method: "POST", json: { key } });
          done(tr, `Published ${key}.`);
        } catch (failure) {
          problem.textContent = failure.message;
          publish.disabled = false;
        }
      });
      remove.addEventListener("click", async () => {
        const sure = await confirmDialog(`Delete ${key}?`,
          "The upload and its variants are removed; it can no longer be published.",
          "Yes, delete");
        if (!sure) {
          remove.focus();
          return;
        }
        try {
          await api("ui/api/delete", { method: "POST", json: { key } });
          done(tr, `Deleted ${key}.`);
        } catch (failure) {
          problem.textContent = failure instanceof ApiError ? failure.message : String(failure);
        }
      });
      tr.append(h("td", { class: "buttons" }, publish, remove, problem));
    }
    return tr;
  }

  moreButton.addEventListener("click", load);
  load();
  return () => {
    alive = false;
    releaseImages();
  };
}
