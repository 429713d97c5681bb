// The alignrec service's page: plain DOM code, no dependencies. Item text is only ever set as textContent.
"use strict";

const HISTORY_SHOWN = 20;
const state = { info: null, users: [], selected: null };
const $ = (id) => document.getElementById(id);

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new Error(body && body.message ? body.message : response.status + " " + response.statusText);
  }
  return body;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function splitText(text) {
  // "Title. 1995. Genres" -> ["Title", "1995. Genres"]: the title ends before the first ". " that a number follows
  // (a year), so "Mr. Holland's Opus. 1995" keeps its title; without one, at the first ". ".
  const year = text.match(/^(.+?)\. (?=\d)/);
  const at = year ? year[1].length : text.indexOf(". ");
  return at > 0 ? [text.slice(0, at), text.slice(at + 2)] : [text, ""];
}

function itemCard(item) {
  const li = document.createElement("li");
  li.className = "card";
  li.dataset.item = item.item;
  li.tabIndex = 0;
  const [title, rest] = splitText(item.text || "item " + item.item);
  li.title = item.text || "";
  if (item.image) {
    const img = document.createElement("img");
    img.src = item.image;
    img.alt = title;
    li.appendChild(img);
  } else {
    const ph = document.createElement("div");
    ph.className = "placeholder";
    ph.textContent = title.slice(0, 1).toUpperCase();
    li.appendChild(ph);
  }
  const t = document.createElement("div");
  t.className = "title";
  t.textContent = title;
  li.appendChild(t);
  if (rest) {
    const r = document.createElement("div");
    r.className = "rest";
    r.textContent = rest;
    li.appendChild(r);
  }
  if (item.score !== undefined) {
    const s = document.createElement("div");
    s.className = "score";
    s.textContent = (item.rank ? "#" + item.rank + " · " : "") + item.score.toFixed(3);
    li.appendChild(s);
  }
  li.addEventListener("click", () => showSimilar(item));
  li.addEventListener("keydown", (e) => { if (e.key === "Enter") showSimilar(item); });
  return li;
}

function fill(list, items) {
  list.replaceChildren(...items.map(itemCard));
}

async function showUser(user) {
  showError("");
  const k = Math.max(1, parseInt($("k-input").value, 10) || 10);
  try {
    const [profile, recs] = await Promise.all([
      api("/users/" + encodeURIComponent(user)),
      api("/users/" + encodeURIComponent(user) + "/recommendations?k=" + k),
    ]);
    $("user-input").value = user;
    history.replaceState(null, "", "#user=" + encodeURIComponent(user));
    const total = profile.history.length;
    $("history-count").textContent = "(" + total + " training items" +
      (total > HISTORY_SHOWN ? ", first " + HISTORY_SHOWN + " shown)" : ")");
    fill($("history"), profile.history.slice(0, HISTORY_SHOWN));
    fill($("recommendations"), recs.items);
  } catch (e) {
    showError(e.message);
  }
}

async function showSimilar(item) {
  state.selected = item;
  const space = document.querySelector("input[name=space]:checked").value;
  const k = Math.max(1, parseInt($("k-input").value, 10) || 10);
  $("similar-panel").hidden = false;
  $("similar-title").textContent = splitText(item.text || "item " + item.item)[0];
  try {
    const answer = await api("/items/" + encodeURIComponent(item.item) + "/similar?k=" + k + "&space=" + space);
    fill($("similar"), answer.similar);
    showError("");
  } catch (e) {
    $("similar").replaceChildren();
    showError(e.message);
  }
}

async function newItem(event) {
  event.preventDefault();
  const form = new FormData();
  const text = $("new-text").value.trim();
  const file = $("new-image").files[0];
  if (text) form.append("text", text);
  if (file) form.append("image", file);
  form.append("k", String(Math.max(1, parseInt($("k-input").value, 10) || 10)));
  $("new-item-note").textContent = "encoding…";
  try {
    const answer = await api("/items", { method: "POST", body: form });
    $("new-item-note").textContent = "encoded from " + answer.used.join(" + ") +
      (answer.ignored.length ? " (ignored: " + answer.ignored.join(", ") + ", no encoder for it in this run)" : "") +
      "; users ranked by " + answer.users_by;
    fill($("new-similar"), answer.similar);
    $("new-users").replaceChildren(...answer.users.map((u) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#user=" + encodeURIComponent(u.user);
      a.textContent = "user " + u.user;
      a.addEventListener("click", (e) => { e.preventDefault(); showUser(u.user); });
      li.append(a, " " + u.score.toFixed(3));
      return li;
    }));
  } catch (e) {
    $("new-item-note").textContent = "";
    showError(e.message);
  }
}

async function start() {
  try {
    state.info = await api("/info");
    const i = state.info;
    $("run-info").textContent = i.model + " on " + i.dataset + " · " + i.users + " users · " + i.items +
      " items · index " + i.index;
    $("k-input").max = i.max_k;
    if (!i.new_items.length) {
      $("new-item-form").querySelectorAll("textarea, input, button").forEach((el) => { el.disabled = true; });
      $("new-item-note").textContent = "not available for this run: " + i.new_items_reason;
    } else {
      $("new-text").disabled = !i.new_items.includes("text");
      $("new-image").disabled = !i.new_items.includes("image");
      $("new-item-note").textContent = "described by: " + i.new_items.join(", ");
    }
    state.users = (await api("/users?limit=10000")).users;
    $("user-list").replaceChildren(...state.users.map((u) => {
      const o = document.createElement("option");
      o.value = u;
      return o;
    }));
    const wanted = new URLSearchParams(location.hash.slice(1)).get("user");
    if (wanted) showUser(wanted);
  } catch (e) {
    showError(e.message);
  }
}

$("user-form").addEventListener("submit", (e) => { e.preventDefault(); showUser($("user-input").value.trim()); });
$("random-user").addEventListener("click", () => {
  if (state.users.length) showUser(state.users[Math.floor(Math.random() * state.users.length)]);
});
document.querySelectorAll("input[name=space]").forEach((el) => el.addEventListener("change", () => {
  if (state.selected) showSimilar(state.selected);
}));
$("new-item-form").addEventListener("submit", newItem);
start();
