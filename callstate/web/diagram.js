// The call state diagram, drawn from /web/diagram.json (made by the server from the transition
// table), with the selected leg's state highlighted.

import { h, fill } from "./dom.js";

// Operation names of an edge's labels, without guards: "Retrieve [both_held]" -> "Retrieve".
const short = (labels) => [...new Set(labels.map((l) => l.replace(/\s*\[.*\]/, "")))];

export class Diagram {
  constructor(element, data) {
    this.element = element;
    this.data = data;
    this.nodes = new Map(data.nodes.map((n) => [n.id, n]));
  }

  static async load(element) {
    const response = await fetch("/web/diagram.json");
    return new Diagram(element, await response.json());
  }

  // Where an edge leaves a node's box towards a point (boxes for states, dots for start/end).
  #border(node, toward) {
    const [w, h2] = node.label ? [this.data.box[0] / 2, this.data.box[1] / 2] : [8, 8];
    const dx = toward.x - node.x;
    const dy = toward.y - node.y;
    const scale = 1 / Math.max(Math.abs(dx) / w, Math.abs(dy) / h2, 1e-9);
    return { x: node.x + dx * scale, y: node.y + dy * scale };
  }

  #edge(edge) {
    const a = this.nodes.get(edge.from);
    const b = this.nodes.get(edge.to);
    const title = h("title", {}, `${edge.from} → ${edge.to}: ${edge.labels.join(", ")}`);
    const attributes = { class: "edge", "data-from": edge.from, "data-to": edge.to, "marker-end": "url(#arrow)" };
    if (a === b) {
      const top = a.y - this.data.box[1] / 2;
      const d = `M ${a.x - 20} ${top} C ${a.x - 40} ${top - 45}, ${a.x + 40} ${top - 45}, ${a.x + 20} ${top}`;
      return h("path", { ...attributes, d }, title);
    }
    // curved to one side of the straight line: the two directions between a pair stay apart,
    // and a long edge within a row arcs over the states between
    const length = Math.hypot(b.x - a.x, b.y - a.y);
    const bend = a.y === b.y ? 0.35 * length : 25;
    const mid = { x: (a.x + b.x) / 2 + ((b.y - a.y) / length) * bend, y: (a.y + b.y) / 2 - ((b.x - a.x) / length) * bend };
    const start = this.#border(a, mid);
    const end = this.#border(b, mid);
    const d = `M ${start.x} ${start.y} Q ${mid.x} ${mid.y} ${end.x} ${end.y}`;
    // the labels are long (guards, several operations): a tooltip here, the list below
    return h("path", { ...attributes, d }, title);
  }

  #node(node, highlighted) {
    if (!node.label) {
      return h("circle", { class: `terminal ${node.id}`, cx: node.x, cy: node.y, r: 8 });
    }
    const [w, hh] = this.data.box;
    return h("g", { class: highlighted ? "state current" : "state", "data-state": node.id },
      h("rect", { x: node.x - w / 2, y: node.y - hh / 2, width: w, height: hh, rx: 8 }),
      h("text", { x: node.x, y: node.y + 5, "text-anchor": "middle" }, node.label));
  }

  // Draw the diagram, with ``state`` (a leg's state, or null) highlighted.
  show(state, caption) {
    const { width, height } = this.data;
    const svg = h("svg", { viewBox: `-10 -10 ${width + 20} ${height + 20}`, width: width + 20, height: height + 20, role: "img" },
      h("defs", {}, h("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        h("path", { d: "M 0 0 L 10 5 L 0 10 z" }))),
      this.data.edges.map((e) => this.#edge(e)),
      this.data.nodes.map((n) => this.#node(n, n.id === state)));
    const out = this.data.edges.filter((e) => e.from === state && e.to !== "end");
    const moves = out.map((e) => h("li", {}, `${short(e.labels).join(", ")} → ${e.to}`));
    fill(this.element, h("p", { class: "caption" }, caption), svg, state ? h("div", { class: "moves" }, `Ways out of ${state}:`, h("ul", {}, moves)) : null);
    this.element.dataset.state = state || "";
  }
}
