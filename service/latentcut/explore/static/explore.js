// latentcut explore: the page. Plain JS, no build step; talks only to the server that served it.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const $ = (id) => document.getElementById(id);
const state = {
  config: null,
  source: null, // a key: {pool: N} | {seed: N} | {saved: NAME}
  destination: null,
  gen: null, // {id, total, about}
  done: 0,
  index: -1,
  following: false, // while generating, show each new frame as it arrives
  events: null,
  playing: false,
  timer: null,
  savedAs: null, // the name the current transition was saved under
  preloaded: new Map(),
};

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function api(path, body) {
  const init = { headers: { "X-Latentcut-Token": token } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function keyLabel(key) {
  if (!key) return "–";
  if ("pool" in key) return `pool frame ${state.config.sheet.numbers[key.pool]}`; // as its sheet tile shows it
  if ("seed" in key) return `random #${key.seed}`;
  return `end of “${key.saved}”`;
}

function randomKey() {
  const draw = new Uint32Array(1);
  crypto.getRandomValues(draw);
  if ($("from-pool").checked) return { pool: draw[0] % state.config.sheet.frames };
  return { seed: draw[0] };
}

function setKeys(source, destination) {
  state.source = source;
  state.destination = destination;
  $("source-label").textContent = keyLabel(source);
  $("destination-label").textContent = keyLabel(destination);
  markSheet();
}

function markSheet() {
  // Outline the pool frames that are the source and the destination on the contact sheet.
  const layout = state.config && state.config.sheet;
  if (!layout) return;
  for (const [which, key] of [["source", state.source], ["destination", state.destination]]) {
    const mark = $(`mark-${which}`);
    const index = key && "pool" in key ? key.pool : -1;
    const image = index >= 0 ? document.querySelector(`#sheets img[data-page="${Math.floor(index / layout.per_page)}"]`) : null;
    if (!image || !image.naturalWidth) {
      mark.hidden = true;
      continue;
    }
    const cell = index % layout.per_page;
    const [width, height] = layout.tile;
    const scale = image.clientWidth / image.naturalWidth;
    const x = layout.gap_px + (cell % layout.columns) * (width + layout.gap_px);
    const y = layout.gap_px + Math.floor(cell / layout.columns) * (height + layout.label_px + layout.gap_px);
    mark.style.left = `${image.offsetLeft + x * scale}px`;
    mark.style.top = `${image.offsetTop + y * scale}px`;
    mark.style.width = `${width * scale}px`;
    mark.style.height = `${height * scale}px`;
    mark.hidden = false;
  }
}

function frameUrl(index) {
  const shadow = $("shadows").checked ? "&shadow=1" : "";
  return `/api/frames/${state.gen.id}/${index}.png?token=${encodeURIComponent(token)}${shadow}`;
}

function showFrame(index) {
  if (!state.gen || state.done === 0) return;
  state.index = ((index % state.done) + state.done) % state.done;
  $("frame").src = frameUrl(state.index);
  const label = $("frame-index");
  label.dataset.index = String(state.index);
  label.textContent = `frame ${state.index} / ${state.gen.total - 1}`;
}

function preload() {
  // Playback should not wait on the network: fetch every frame once the transition is complete.
  for (let i = 0; i < state.done; i++) {
    const url = frameUrl(i);
    if (!state.preloaded.has(url)) {
      const image = new Image();
      image.src = url;
      state.preloaded.set(url, image);
    }
  }
}

function stop() {
  state.playing = false;
  clearTimeout(state.timer);
  $("play").textContent = "Play";
}

function tick() {
  if (!state.playing) return;
  showFrame(state.index + 1);
  const fps = Math.min(60, Math.max(1, Number($("fps").value) || 12));
  state.timer = setTimeout(tick, 1000 / fps);
}

function play() {
  if (state.playing) return stop();
  if (!state.gen || state.done === 0) return;
  state.following = false;
  state.playing = true;
  $("play").textContent = "Pause";
  tick();
}

function follow(generation) {
  if (state.events) state.events.close();
  stop();
  state.gen = generation;
  state.done = 0;
  state.savedAs = null;
  state.following = true;
  state.preloaded.clear();
  $("progress").max = generation.total;
  $("progress").value = 0;
  $("progress-text").textContent = `0 / ${generation.total}`;
  $("frame-index").textContent = `frame – / ${generation.total - 1}`;
  const events = new EventSource(`/api/events/${generation.id}?token=${encodeURIComponent(token)}`);
  state.events = events;
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (!state.gen || event.id !== state.gen.id) return;
    state.done = event.done;
    $("progress").value = event.done;
    $("progress-text").textContent = `${event.done} / ${event.total}`;
    if (state.following && event.done > 0) showFrame(event.done - 1);
    if (event.state !== "running") {
      events.close();
      state.following = false;
      if (event.state === "done") {
        showFrame(0);
        preload();
        say(`${event.total} frames ready: ← → to step, Play to cycle`);
      } else if (event.state === "failed") {
        say(`rendering failed: ${event.error}`, true);
      }
    }
  };
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) say("lost the connection to the explorer", true);
  };
}

function sheetSource(page) {
  // The pool's sheet in the snapshot and psi chosen above it, as the transitions will show them.
  const query = new URLSearchParams({ token, snapshot: $("snapshot").value, psi: $("psi").value });
  return `/api/sheet/${page}.png?${query}`;
}

function redrawSheets() {
  for (const image of document.querySelectorAll("#sheets img")) image.src = sheetSource(image.dataset.page);
}

function snapshotsMatch(about) {
  if (about.snapshot && [...$("snapshot").options].some((o) => o.value === about.snapshot)) $("snapshot").value = about.snapshot;
  if (typeof about.truncation_psi === "number") $("psi").value = about.truncation_psi;
  redrawSheets();
  if (about.steps) $("steps").value = about.steps;
  if (about.interp) $("interp").value = about.interp;
}

async function generate() {
  if (!state.source || !state.destination) setKeys(randomKey(), randomKey());
  say("generating…");
  try {
    const generation = await api("/api/generate", {
      source: state.source,
      destination: state.destination,
      steps: Number($("steps").value),
      interp: $("interp").value,
      snapshot: $("snapshot").value,
      truncation_psi: Number($("psi").value),
    });
    follow(generation);
  } catch (error) {
    say(error.message, true);
  }
}

async function save() {
  if (!state.gen) return say("generate a transition first", true);
  const name = $("name").value.trim();
  say(`saving ${name}…`);
  try {
    const saved = await api("/api/save", { generation: state.gen.id, name });
    state.savedAs = saved.name;
    say(`saved ${saved.name}: ${saved.frames} frames, sidecar, proxy and explore.kdenlive`);
    await refreshSaved();
  } catch (error) {
    say(error.message, true);
  }
}

function savedItem(item) {
  const li = document.createElement("li");
  li.dataset.name = item.name;
  const title = document.createElement("strong");
  title.textContent = item.name;
  const about = document.createElement("span");
  about.className = "muted";
  const chained = item.made.continues ? ` · continues ${item.made.continues}` : "";
  const psi = typeof item.made.truncation_psi === "number" && item.made.truncation_psi !== 1 ? ` · ψ ${item.made.truncation_psi}` : "";
  about.textContent = `${item.frames} frames · ${item.made.interp || ""} · ${item.made.snapshot || ""}${psi}${chained}`;
  li.append(title, about);
  const button = (label, action, handler) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.dataset.action = action;
    b.addEventListener("click", handler);
    li.append(b);
    return b;
  };
  button("Load", "load", async () => {
    try {
      const generation = await api("/api/load", { name: item.name });
      const about = generation.about;
      snapshotsMatch(about);
      if (about.source && about.destination) setKeys(about.source, about.destination);
      follow(generation);
      state.savedAs = item.name;
      say(`loaded ${item.name}`);
    } catch (error) {
      say(error.message, true);
    }
  });
  button("Continue", "continue", () => {
    setKeys({ saved: item.name }, randomKey());
    say(`continuing ${item.name}: Generate, then Save`);
  });
  if (item.made.continues) {
    button("Export chain", "chain", async () => {
      try {
        const chain = await api("/api/chain", { name: item.name, output: `${item.name}-chain`.slice(0, 64) });
        say(`exported ${chain.transitions.join(" → ")} as ${chain.path}`);
      } catch (error) {
        say(error.message, true);
      }
    });
  }
  const remove = button("Delete", "delete", async () => {
    if (remove.dataset.armed !== "1") {
      remove.dataset.armed = "1";
      remove.textContent = "Delete?";
      setTimeout(() => {
        remove.dataset.armed = "";
        remove.textContent = "Delete";
      }, 4000);
      return;
    }
    try {
      await api("/api/delete", { name: item.name });
      say(`deleted ${item.name}`);
      await refreshSaved();
    } catch (error) {
      say(error.message, true);
    }
  });
  return li;
}

async function refreshSaved() {
  const data = await api("/api/saved");
  $("saved").replaceChildren(...data.saved.map(savedItem));
  $("saved").dataset.count = String(data.saved.length);
  $("project").textContent = data.project ? `in ${data.project}` : "";
}

function pickFromSheet(event, page) {
  const layout = state.config.sheet;
  const image = event.currentTarget;
  const scale = image.naturalWidth / image.clientWidth;
  const x = event.offsetX * scale - layout.gap_px;
  const y = event.offsetY * scale - layout.gap_px;
  const [width, height] = layout.tile;
  const column = Math.floor(x / (width + layout.gap_px));
  const row = Math.floor(y / (height + layout.label_px + layout.gap_px));
  if (x < 0 || y < 0 || column >= layout.columns || x - column * (width + layout.gap_px) >= width) return;
  const index = page * layout.per_page + row * layout.columns + column;
  if (index >= layout.frames) return;
  const target = document.querySelector("input[name=pick]:checked").value;
  if (target === "source") {
    setKeys({ pool: index }, state.destination);
    $("pick-destination").checked = true;
  } else {
    setKeys(state.source, { pool: index });
    $("pick-source").checked = true;
  }
}

function onKey(event) {
  const typing = event.target instanceof HTMLInputElement && ["text", "number"].includes(event.target.type);
  if (typing || event.target instanceof HTMLSelectElement) return;
  if (event.key === "ArrowLeft") {
    stop();
    showFrame(state.index - 1);
  } else if (event.key === "ArrowRight") {
    stop();
    showFrame(state.index + 1);
  } else if (event.key === " ") {
    play();
  } else {
    return;
  }
  event.preventDefault();
}

async function start() {
  if (!token) return say("no token: open the address latentcut explore printed (it ends with #token=…)", true);
  try {
    state.config = await api("/api/config");
  } catch (error) {
    return say(error.message, true);
  }
  const config = state.config;
  for (const spec of config.snapshots) $("snapshot").add(new Option(spec, spec));
  for (const name of config.interps) $("interp").add(new Option(name, name));
  $("interp").value = config.interps.includes("slerp") ? "slerp" : config.interps[0];
  $("steps").min = config.steps.min;
  $("steps").max = config.steps.max;
  $("steps").value = config.steps.default;
  $("psi").value = config.truncation_psi;
  $("from-pool").checked = config.pool_given;
  $("where").textContent = `${config.size[0]}×${config.size[1]} · saves to ${config.out}${config.daemon ? ` · frames from ${config.daemon}` : ""}`;
  $("pool-name").textContent = `${config.sheet.name || "random pool"} · ${config.sheet.frames} frames`;
  for (let page = 0; page < config.sheet.pages; page++) {
    const image = document.createElement("img");
    image.src = sheetSource(page);
    image.alt = `pool frames, page ${page + 1}`;
    image.dataset.page = String(page);
    image.addEventListener("click", (event) => pickFromSheet(event, page));
    image.addEventListener("load", markSheet);
    $("sheets").append(image);
  }
  $("shuffle-both").addEventListener("click", () => setKeys(randomKey(), randomKey()));
  $("keep-source").addEventListener("click", () => setKeys(state.source || randomKey(), randomKey()));
  $("next-source").addEventListener("click", () => {
    // Chained onto the saved transition when it was saved, so that its export joins up frame for frame.
    const next = state.savedAs ? { saved: state.savedAs } : state.destination || randomKey();
    setKeys(next, randomKey());
  });
  $("generate").addEventListener("click", generate);
  $("snapshot").addEventListener("change", redrawSheets);
  $("psi").addEventListener("change", redrawSheets);
  $("prev").addEventListener("click", () => {
    stop();
    showFrame(state.index - 1);
  });
  $("next").addEventListener("click", () => {
    stop();
    showFrame(state.index + 1);
  });
  $("play").addEventListener("click", play);
  $("shadows").addEventListener("change", () => {
    state.preloaded.clear();
    if (state.index >= 0) showFrame(state.index);
    if (!state.following) preload();
  });
  $("save").addEventListener("click", save);
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", markSheet);
  setKeys(randomKey(), randomKey());
  await refreshSaved();
  document.body.dataset.ready = "1";
}

start();
