// The page's router: #/ gallery, #/image/<id> detail, #/c2corg, #/jobs; the sign-in form.
import { ApiError } from "./api.js";
import * as c2corg from "./c2corg.js";
import * as detail from "./detail.js";
import { h } from "./dom.js";
import * as gallery from "./gallery.js";
import * as jobs from "./jobs.js";
import { can, onSessionChange, session, signIn, signOut, startSession } from "./session.js";
import { currentKey } from "./session-key.js";

const ROUTES = [
  [/^#?\/?$/, "gallery", (main) => gallery.render(main)],
  [/^#\/image\/(\d+)$/, "gallery", (main, id) => detail.render(main, Number(id))],
  [/^#\/c2corg$/, "c2corg", (main) => c2corg.render(main)],
  [/^#\/jobs$/, "jobs", (main) => jobs.render(main)],
];
const TITLES = { gallery: "Gallery", c2corg: "c2corg uploads", jobs: "Jobs and health" };
let leave = () => {};

function route() {
  const hash = window.location.hash;
  if (hash && !hash.startsWith("#/")) return; // an in-page anchor, such as the skip link
  const main = document.getElementById("main");
  const found = ROUTES.map(([pattern, view, show]) => [hash.match(pattern), view, show])
    .find(([match]) => match);
  leave();
  if (!found) {
    main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the gallery")));
    leave = () => {};
    return;
  }
  const [match, view, show] = found;
  document.querySelectorAll("nav a").forEach((link) => {
    if (link.dataset.view === view && !match[1]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  document.title = `${match[1] ? `Image ${match[1]}` : TITLES[view]} · imagehost`;
  leave = show(main, ...match.slice(1)) || (() => {});
}

function showSession() {
  const signedIn = Boolean(currentKey());
  document.getElementById("signin").hidden = Boolean(signedIn);
  document.getElementById("signed-in").hidden = !signedIn;
  document.getElementById("scopes").textContent = signedIn
    ? `Signed in (${session.scopes.join(", ")})` : "";
  document.querySelector('nav a[data-view="c2corg"]').parentElement.hidden = !can("read");
}

function wireSignIn() {
  const form = document.getElementById("signin");
  const input = document.getElementById("api-key");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter an API key.";
      input.focus();
      return;
    }
    try {
      await signIn(key);
      error.textContent = "";
      input.value = "";
      input.removeAttribute("aria-invalid");
      document.getElementById("signout").focus();
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.status === 401
        ? "This API key is not known to the server." : failure.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
  document.getElementById("signout").addEventListener("click", async () => {
    await signOut();
    input.focus();
  });
  document.getElementById("skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
}

async function start() {
  wireSignIn();
  try {
    await startSession();
  } catch (failure) {
    document.getElementById("main").replaceChildren(h("h1", {}, "imagehost"),
      h("p", { class: "error", role: "alert" }, `The service did not answer: ${failure.message}`));
    return;
  }
  onSessionChange(() => {
    showSession();
    route();
  });
  showSession();
  window.addEventListener("hashchange", route);
  route();
}

start();
