// The sandbox console: swap in the server-rendered panes whenever the server says something
// changed, and post what the person does. No build step, no framework.
"use strict";

// The guardian and staff member chosen last survive a reload (when the demo still has them).
function remembered(id) {
  const select = document.getElementById(id);
  const kept = window.localStorage.getItem("carebot-sandbox-" + id);
  if (kept && [...select.options].some((o) => o.value === kept)) select.value = kept;
  return select.value;
}

function remember(id, value) {
  window.localStorage.setItem("carebot-sandbox-" + id, value);
}

const state = {
  family: remembered("family"),
  channel: document.querySelector('input[name="channel"]:checked')?.value || "",
  staff: remembered("staff"),
};
let modalId = null;
let refreshing = null;
let again = false;

function query() {
  return new URLSearchParams(state).toString();
}

function problem(text) {
  const box = document.getElementById("problem");
  box.textContent = text || "";
  box.hidden = !text;
}

// Replacing a pane must not lose what the person is typing: keep values and focus by data-key.
function swap(id, html) {
  const root = document.getElementById(id);
  const kept = {};
  let focused = null;
  root.querySelectorAll("[data-key]").forEach((el) => {
    kept[el.dataset.key] = el.value;
    if (el === document.activeElement) focused = el.dataset.key;
  });
  root.innerHTML = html;
  root.querySelectorAll("[data-key]").forEach((el) => {
    if (el.dataset.key in kept) el.value = kept[el.dataset.key];
    if (el.dataset.key === focused) el.focus();
  });
}

async function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      const response = await fetch("/console/panes?" + query());
      if (!response.ok) continue;
      const panes = await response.json();
      state.channel = panes.channel;
      document.querySelectorAll('input[name="channel"]').forEach((r) => {
        r.checked = r.value === panes.channel;
      });
      swap("clock", panes.clock);
      swap("phone", panes.phone);
      swap("slack", panes.slack);
      swap("intro", panes.intro);
      swap("activity", panes.activity);
      if (panes.modal_id !== modalId) {
        document.getElementById("modal").innerHTML = panes.modal;
        modalId = panes.modal_id;
      }
      document.body.dataset.version = panes.version;
      const log = document.getElementById("phone-messages");
      if (log) log.scrollTop = log.scrollHeight;
    } while (again);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
}

async function act(action) {
  problem("");
  const response = await fetch("/console/action", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...state, ...action }),
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch (e) {
    answer = { ok: false, error: "the sandbox did not answer (" + response.status + ")" };
  }
  if (answer.error) problem(answer.error);
  if (answer.note && action.action !== "clock") document.getElementById("note").textContent = answer.note;
  await refresh();
  return answer;
}

function formValues(form) {
  const values = {};
  form.querySelectorAll("[name]").forEach((el) => {
    if (el.type === "checkbox") {
      values[el.name] = values[el.name] || [];
      if (el.checked) values[el.name].push(el.value);
    } else if (el.type === "radio") {
      if (el.checked) values[el.name] = el.value;
    } else {
      values[el.name] = el.value;
    }
  });
  return values;
}

// data-action-id="x" arrives as dataset.actionId; the server reads action_id.
function fields(dataset) {
  return Object.fromEntries(
    Object.entries(dataset).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()), v]),
  );
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  event.preventDefault();
  act(fields(button.dataset));
});

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-action]");
  if (!form) return;
  event.preventDefault();
  const data = fields(form.dataset);
  if (form.dataset.action === "slack-submit") {
    form.querySelectorAll("[data-error-for]").forEach((el) => (el.textContent = ""));
    const answer = await act({ ...data, values: formValues(form) });
    for (const [field, text] of Object.entries(answer.errors || {})) {
      const slot = form.querySelector(`[data-error-for="${field}"]`);
      if (slot) slot.textContent = text;
    }
    return;
  }
  const input = form.querySelector('input[name="text"]');
  data.text = input.value;
  input.value = "";
  await act(data);
});

document.getElementById("family").addEventListener("change", (e) => {
  state.family = e.target.value;
  remember("family", state.family);
  state.channel = "";
  refresh();
});
document.querySelectorAll('input[name="channel"]').forEach((radio) =>
  radio.addEventListener("change", (e) => {
    state.channel = e.target.value;
    refresh();
  }),
);
document.getElementById("staff").addEventListener("change", (e) => {
  state.staff = e.target.value;
  remember("staff", state.staff);
  modalId = null;
  refresh();
});

new EventSource("/console/events").onmessage = () => refresh();
refresh();
