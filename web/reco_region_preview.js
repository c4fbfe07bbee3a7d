/**
 * ReCo's front-end extension: the player in ReCoRegionPreview nodes (fed by the node's `reco_preview` output) and the
 * live region map on ReCoSampler nodes (fed by the sampler's "reco.region_map" websocket events).
 */
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { LiveMapView } from "./reco_live_map.js";
import { RegionPlayer } from "./reco_player.js";

const PREVIEW_NODE = "ReCoRegionPreview";
const SAMPLER_NODE = "ReCoSampler";
const PREVIEW_KEY = "reco_preview";
const LIVE_EVENT = "reco.region_map";
const PLAYER_MIN_WIDTH = 560;
const LIVE_MIN_HEIGHT = 150;

const liveViews = new WeakMap();

/** Calls `callback` after whatever `object[method]` already did (the front end chains node callbacks this way too). */
function chain(object, method, callback) {
  const original = object[method];
  object[method] = function (...args) {
    const result = original?.apply(this, args);
    callback.apply(this, args);
    return result;
  };
}

/** Grows a node so its DOM widget fits, never shrinks it. */
function fit(node, minWidth = 0) {
  node.setSize([Math.max(node.size[0], minWidth), node.size[1]]);
  node.setSize([node.size[0], Math.max(node.size[1], node.computeSize()[1])]);
  node.setDirtyCanvas(true, true);
}

/** The widget's value is a view, not a setting: keep it out of saved widgets_values and out of the API prompt. */
function addViewWidget(node, name, view, getMinHeight) {
  const widget = node.addDOMWidget(name, name, view.element, { serialize: false, hideOnZoom: false, getMinHeight });
  widget.serialize = false;
  return widget;
}

function addPlayer(node) {
  const player = new RegionPlayer();
  addViewWidget(node, "reco_preview", player, () => player.preferredHeight(node.size[0]));
  chain(node, "onExecuted", (output) => {
    const payload = output?.[PREVIEW_KEY]?.[0];
    if (payload) player.load(payload).then(() => fit(node, PLAYER_MIN_WIDTH));
  });
  chain(node, "onRemoved", () => player.destroy());
}

/** A node from the id the server uses, "12" at the top level or "12:5" inside subgraph node 12. */
function nodeByExecutionId(id) {
  let graph = app.graph;
  let node = null;
  for (const part of String(id).split(":")) {
    node = graph?.getNodeById(part) ?? null;
    graph = node?.subgraph;
  }
  return node;
}

function showLiveMap({ detail }) {
  const node = nodeByExecutionId(detail?.node);
  if (node?.comfyClass !== SAMPLER_NODE) return;
  let view = liveViews.get(node);
  if (!view) {
    view = new LiveMapView();
    liveViews.set(node, view);
    addViewWidget(node, "reco_live_map", view, () => LIVE_MIN_HEIGHT);
    chain(node, "onRemoved", () => liveViews.delete(node));
    fit(node);
  }
  view.update(detail);
}

app.registerExtension({
  name: "reco.RegionPreview",
  setup() {
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = new URL("./reco_region_preview.css", import.meta.url).href;
    document.head.append(style);
    api.addEventListener(LIVE_EVENT, showLiveMap);
  },
  nodeCreated(node) {
    if (node.comfyClass === PREVIEW_NODE) addPlayer(node);
  },
});
