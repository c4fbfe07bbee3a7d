/**
 * Sprite sheets written by ReCoRegionPreview (reco_core/preview/sprite_sheet.py): every frame of a panel tiled row-major in
 * one PNG. A sheet is drawn once into an offscreen canvas; frame i is then a copy (or a pixel read) of one cell.
 */
import { api } from "../../scripts/api.js";

const PANEL_NAMES = ["source", "edit", "region"];

/** /view URL of a file the server wrote; every part goes through URLSearchParams, so no name can alter the query. */
function viewURL(file) {
  const query = new URLSearchParams({
    filename: String(file.filename),
    subfolder: String(file.subfolder ?? ""),
    type: String(file.type ?? "temp"),
  });
  return api.apiURL(`/view?${query}`);
}

function positiveInt(value, name) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`preview payload: ${name} must be a positive integer`);
  return number;
}

function fileRef(value, name) {
  if (!value || typeof value.filename !== "string") throw new Error(`preview payload: ${name} has no file name`);
  return { filename: value.filename, subfolder: String(value.subfolder ?? ""), type: String(value.type ?? "temp") };
}

/**
 * Checks a node's `reco_preview` payload and returns it in a known shape; throws on anything malformed.
 * @returns {{frames: number, columns: number, frameWidth: number, frameHeight: number, fps: number,
 *   opacity: number, caption: string, panels: {name: string, file: object}[], weight: object}}
 */
export function parsePreview(payload) {
  if (!payload || typeof payload !== "object") throw new Error("preview payload: missing");
  const panels = Array.isArray(payload.panels) ? payload.panels : [];
  const parsed = {
    frames: positiveInt(payload.frames, "frames"),
    columns: positiveInt(payload.columns, "columns"),
    frameWidth: positiveInt(payload.frame_width, "frame_width"),
    frameHeight: positiveInt(payload.frame_height, "frame_height"),
    fps: Math.min(Math.max(Number(payload.fps) || 16, 0.1), 240),
    opacity: Math.min(Math.max(Number(payload.opacity) || 0, 0), 1),
    caption: typeof payload.caption === "string" ? payload.caption : "",
    panels: panels
      .filter((panel) => PANEL_NAMES.includes(panel?.name))
      .map((panel) => ({ name: panel.name, file: fileRef(panel, `panel ${panel.name}`) })),
    weight: fileRef(payload.weight, "weight"),
  };
  for (const required of ["edit", "region"]) {
    if (!parsed.panels.some((panel) => panel.name === required)) {
      throw new Error(`preview payload: no ${required} panel`);
    }
  }
  return parsed;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${url}`));
    image.src = url;
  });
}

/** One loaded sheet, readable cell by cell. */
export class Sheet {
  /**
   * @param {HTMLImageElement} image
   * @param {{columns: number, frameWidth: number, frameHeight: number}} layout
   */
  constructor(image, layout) {
    this.layout = layout;
    this.canvas = document.createElement("canvas");
    this.canvas.width = image.naturalWidth;
    this.canvas.height = image.naturalHeight;
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.context.drawImage(image, 0, 0);
  }

  static async load(file, layout) {
    return new Sheet(await loadImage(viewURL(file)), layout);
  }

  origin(index) {
    const { columns, frameWidth, frameHeight } = this.layout;
    return [(index % columns) * frameWidth, Math.floor(index / columns) * frameHeight];
  }

  /** Draws cell `index` at (0, 0) of `context`. */
  draw(context, index) {
    const [x, y] = this.origin(index);
    const { frameWidth, frameHeight } = this.layout;
    context.drawImage(this.canvas, x, y, frameWidth, frameHeight, 0, 0, frameWidth, frameHeight);
  }

  /** The RGBA pixels of cell `index`. */
  pixels(index) {
    const [x, y] = this.origin(index);
    return this.context.getImageData(x, y, this.layout.frameWidth, this.layout.frameHeight).data;
  }
}
