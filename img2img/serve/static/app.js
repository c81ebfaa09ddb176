// The page of `img2img serve`: pick or drop an image, translate it, show both, download.
"use strict";
const $ = (id) => document.getElementById(id);
const OPTION_INPUTS = {
  side: () => select(["", "A", "B"]),
  seed: () => input("number"),
  eval: () => checkbox(),
  no_dropout: () => checkbox(),
  direction: () => select(["", "AtoB", "BtoA"]),
  style: () => input("text"),
};
let models = [];
let lastFile = null;
let outputUrl = null;

function select(values) {
  const el = document.createElement("select");
  for (const v of values) el.append(new Option(v || "(default)", v));
  return el;
}
function input(type) { const el = document.createElement("input"); el.type = type; return el; }
function checkbox() { const el = input("checkbox"); el.value = "true"; return el; }

function headers() {
  const token = $("token").value || sessionStorage.getItem("img2img-token");
  return token ? { Authorization: "Bearer " + token } : {};
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function loadModels() {
  const res = await fetch("/v1/models", { headers: headers() });
  if (res.status === 401) { $("token-row").hidden = false; showError("This server needs its token."); return; }
  const body = await res.json();
  if (!res.ok) { showError(body.error || res.statusText); return; }
  showError("");
  models = body.models;
  $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.family})`, m.name)));
  renderOptions();
}

function renderOptions() {
  const model = models.find((m) => m.name === $("model").value);
  const box = $("options");
  box.replaceChildren();
  for (const name of model ? model.options : []) {
    if (!(name in OPTION_INPUTS)) continue;
    const label = document.createElement("label");
    const el = OPTION_INPUTS[name]();
    el.dataset.option = name;
    if (el.type === "checkbox") label.className = "check";
    label.append(name.replace("_", " "), el);
    box.append(label);
  }
}

async function translate(file) {
  lastFile = file;
  $("input").src = URL.createObjectURL(file);
  const params = new URLSearchParams({ model: $("model").value, format: $("format").value });
  for (const el of $("options").querySelectorAll("[data-option]")) {
    if (el.type === "checkbox") { if (el.checked) params.set(el.dataset.option, "true"); }
    else if (el.value) params.set(el.dataset.option, el.value);
  }
  const form = new FormData();
  form.append("image", file, file.name);
  $("status").textContent = "translating…";
  try {
    const res = await fetch("/v1/translate?" + params, { method: "POST", body: form, headers: headers() });
    if (!res.ok) {
      const body = await res.json().catch(() => ({ error: res.statusText }));
      throw new Error(body.error || res.statusText);
    }
    const blob = await res.blob();
    if (outputUrl) URL.revokeObjectURL(outputUrl);
    outputUrl = URL.createObjectURL(blob);
    $("output").src = outputUrl;
    const ext = $("format").value === "jpeg" ? "jpg" : $("format").value;
    $("download").href = outputUrl;
    $("download").download = file.name.replace(/\.[^.]*$/, "") + "_" + $("model").value + "." + ext;
    $("download").hidden = false;
    showError("");
    $("status").textContent = "done";
  } catch (err) {
    showError(err.message);
    $("status").textContent = "";
  }
}

$("file").addEventListener("change", () => { if ($("file").files[0]) translate($("file").files[0]); });
$("model").addEventListener("change", renderOptions);
$("token").addEventListener("change", () => { sessionStorage.setItem("img2img-token", $("token").value); loadModels(); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) translate(e.dataTransfer.files[0]);
});
loadModels().catch((err) => showError(err.message));
