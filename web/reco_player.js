/**
 * The player inside ReCoRegionPreview: source | edit | region panels, play/pause, a frame scrubber and an opacity
 * slider. The edit panel is blended in the browser (edit x (1 - a) + colour x a, a = opacity x weight, the formula of
 * reco_core.preview.overlay.render_overlay), so moving the slider needs no new run.
 */
import { element } from "./reco_dom.js";
import { Sheet, parsePreview } from "./reco_sheets.js";

const IDLE_TEXT = "Queue the graph to see the region map here.";
// Space for the caption, panel labels and the controls row, in px.
const CHROME_HEIGHT = 96;

export class RegionPlayer {
  constructor() {
    this.caption = element("div", { className: "reco-preview-caption" });
    this.status = element("div", { className: "reco-preview-status", text: IDLE_TEXT });
    this.panels = element("div", { className: "reco-preview-panels" });
    this.playButton = element("button", {
      className: "reco-preview-play", text: "Play", attributes: { type: "button" },
    });
    this.scrubber = element("input", {
      className: "reco-preview-scrubber",
      attributes: { type: "range", min: 0, max: 0, step: 1, value: 0, "aria-label": "frame" },
    });
    this.frameLabel = element("span", { className: "reco-preview-frame", text: "0/0" });
    this.opacity = element("input", {
      className: "reco-preview-opacity",
      attributes: { type: "range", min: 0, max: 1, step: 0.01, value: 0.5, "aria-label": "opacity" },
    });
    const controls = element("div", { className: "reco-preview-controls" }, [
      this.playButton, this.scrubber, this.frameLabel,
      element("label", { className: "reco-preview-opacity-label", text: "opacity" }, [this.opacity]),
    ]);
    this.element = element("div", { className: "reco-preview" }, [this.caption, this.status, this.panels, controls]);
    this.element.dataset.state = "empty";

    this.preview = null;
    this.views = new Map();
    this.weight = null;
    this.frame = 0;
    this.playing = false;
    this.animation = 0;
    this.generation = 0;

    this.playButton.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.scrubber.addEventListener("input", () => {
      this.pause();
      this.draw(Number(this.scrubber.value));
    });
    this.opacity.addEventListener("input", () => this.draw(this.frame));
  }

  /** Height the widget wants at a node width, so panels keep their aspect ratio. */
  preferredHeight(nodeWidth) {
    if (!this.preview) return CHROME_HEIGHT;
    const panelWidth = Math.max(nodeWidth - 24, 60) / this.preview.panels.length;
    return Math.round(CHROME_HEIGHT + panelWidth * (this.preview.frameHeight / this.preview.frameWidth));
  }

  /** Shows a node's `reco_preview` payload; resolves once the first frame is drawn (or the payload is refused). */
  async load(payload) {
    const generation = ++this.generation;
    this.pause();
    let preview;
    try {
      preview = parsePreview(payload);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.element.dataset.state = "loading";
    this.status.textContent = "Loading preview...";
    const layout = { columns: preview.columns, frameWidth: preview.frameWidth, frameHeight: preview.frameHeight };
    let sheets;
    try {
      sheets = await Promise.all([...preview.panels.map((panel) => panel.file), preview.weight]
        .map((file) => Sheet.load(file, layout)));
    } catch (error) {
      if (generation === this.generation) this.fail(error);
      return;
    }
    if (generation !== this.generation) return;
    this.preview = preview;
    this.weight = sheets.pop();
    this.views = new Map(preview.panels.map((panel, index) => [panel.name, this.panelView(panel.name, sheets[index])]));
    this.panels.replaceChildren(...[...this.views.values()].map((view) => view.figure));
    this.caption.textContent = preview.caption;
    this.status.textContent = "";
    this.scrubber.max = String(preview.frames - 1);
    this.opacity.value = String(preview.opacity);
    this.draw(0);
    this.element.dataset.state = "ready";
    this.play();
  }

  panelView(name, sheet) {
    const canvas = element("canvas", { className: `reco-preview-canvas reco-preview-${name}` });
    canvas.width = sheet.layout.frameWidth;
    canvas.height = sheet.layout.frameHeight;
    const figure = element("figure", { className: "reco-preview-panel" }, [
      canvas, element("figcaption", { text: name }),
    ]);
    return { sheet, canvas, context: canvas.getContext("2d"), figure };
  }

  fail(error) {
    this.preview = null;
    this.panels.replaceChildren();
    this.element.dataset.state = "error";
    this.status.textContent = String(error?.message ?? error);
  }

  draw(index) {
    if (!this.preview) return;
    const frame = Math.min(Math.max(Math.trunc(index) || 0, 0), this.preview.frames - 1);
    this.frame = frame;
    this.scrubber.value = String(frame);
    this.frameLabel.textContent = `${frame + 1}/${this.preview.frames}`;
    for (const [name, view] of this.views) {
      if (name === "edit") this.drawBlend(view, frame);
      else view.sheet.draw(view.context, frame);
    }
  }

  drawBlend(view, frame) {
    const region = this.views.get("region").sheet.pixels(frame);
    const weight = this.weight.pixels(frame);
    const out = view.context.createImageData(view.canvas.width, view.canvas.height);
    const edit = view.sheet.pixels(frame);
    const opacity = Number(this.opacity.value);
    for (let i = 0; i < out.data.length; i += 4) {
      const alpha = (opacity * weight[i]) / 255;
      for (let c = 0; c < 3; c += 1) out.data[i + c] = edit[i + c] * (1 - alpha) + region[i + c] * alpha;
      out.data[i + 3] = 255;
    }
    view.context.putImageData(out, 0, 0);
  }

  play() {
    if (!this.preview || this.playing) return;
    this.playing = true;
    this.playButton.textContent = "Pause";
    const start = performance.now() - (this.frame * 1000) / this.preview.fps;
    const tick = (now) => {
      if (!this.playing) return;
      const frame = Math.floor(((now - start) / 1000) * this.preview.fps) % this.preview.frames;
      if (frame !== this.frame) this.draw(frame);
      this.animation = requestAnimationFrame(tick);
    };
    this.animation = requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.animation);
    this.playButton.textContent = "Play";
  }

  /** Stops playback and lets go of the sheets; called when the node is removed. */
  destroy() {
    this.generation += 1;
    this.pause();
    this.preview = null;
    this.views = new Map();
    this.weight = null;
    this.element.dataset.state = "destroyed";
  }
}
