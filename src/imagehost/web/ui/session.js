// Who is signed in: the key's scopes and the server's choices (GET /ui/api/session).
import { api, ApiError } from "./api.js";
import { currentKey, storeKey } from "./session-key.js";

export const session = {
  scopes: [],
  anonymous: true,
  signing: false,
  formats: [],
  fits: [],
  variants: [],
  max_side: 4096,
  filter_help: "",
};
const listeners = new Set();

export function can(scope) {
  return session.scopes.includes(scope);
}

export function onSessionChange(listener) {
  listeners.add(listener);
}

async function load(key) {
  const settings = await api("ui/api/session", { key });
  Object.assign(session, settings);
}

// At start: the stored key, if the server still knows it; else anonymous.
export async function startSession() {
  const key = currentKey();
  try {
    await load(key);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !key) throw error;
    storeKey("");
    await load("");
  }
}

export async function signIn(key) {
  await load(key);
  storeKey(key);
  listeners.forEach((listener) => listener());
}

export async function signOut() {
  storeKey("");
  await load("");
  listeners.forEach((listener) => listener());
}
