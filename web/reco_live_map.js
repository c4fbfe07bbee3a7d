/**
 * The live region map on ReCoSampler: the "reco.region_map" events the sampler sends while it runs (at most a few a
 * second), shown as the latest colorized map with "step i/n". Created on the first event, so idle samplers keep their
 * usual size.
 */
import { element } from "./reco_dom.js";

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export class LiveMapView {
  constructor() {
    this.label = element("div", { className: "reco-live-step", text: "region map: waiting for the first step" });
    this.image = element("img", { className: "reco-live-image", attributes: { alt: "region map" } });
    this.element = element("div", { className: "reco-live" }, [this.label, this.image]);
    this.received = 0;
    this.element.dataset.steps = "0";
  }

  /** Shows one event's map; an event whose image is not plain base64 is ignored. */
  update(detail) {
    const image = typeof detail?.image === "string" ? detail.image : "";
    if (!BASE64.test(image)) return;
    this.image.src = `data:image/png;base64,${image}`;
    this.label.textContent = `region map: step ${Number(detail.step) || 0}/${Number(detail.total) || 0}`;
    this.received += 1;
    this.element.dataset.steps = String(this.received);
  }
}
