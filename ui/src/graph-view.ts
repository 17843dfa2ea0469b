// Draws the graph with cytoscape, placed by the dagre layered layout. Loaded only by the graph page
// (its own chunk), so the first page does not carry it. Large graphs are drawn the cheap way:
// straight edges, no animation, the viewport panned as a texture, device pixels at 1.
import dagre from "@dagrejs/dagre";
import cytoscape from "cytoscape";
import { type GraphModel, type GraphRatesResponse, rateLabel } from "./graph-model";

const colours: Record<string, string> = {
  gateway: "#1d4ed8",
  routetable: "#047857",
  destination: "#7c3aed",
  cluster: "#92400e",
  policy: "#b91c1c",
};

/** Above this many nodes, drawing favours speed over curves and crispness. */
const large = 200;

/** An edge whose error ratio is above this is drawn as failing. */
const failingRatio = 0.05;

export interface GraphView {
  select(id: string): void;
  /** Labels traffic and policy edges with their rates; edges without one lose theirs. */
  showRates(rates: GraphRatesResponse): void;
  destroy(): void;
}

/** Node size as drawn (the gateway is wider); dagre keeps them apart by it. */
const nodeSize = { width: 18, height: 18, gatewayWidth: 26 };

/**
 * Node positions from dagre, called directly rather than through a cytoscape extension so that its
 * options reach it. Longest-path ranking: the columns are the kinds already (gateway, route table,
 * destination, cluster), and it is far cheaper than network simplex on hundreds of nodes. On a large
 * graph the crossing-reduction sweeps are skipped (`disableOptimalOrderHeuristic`): they are about
 * three quarters of dagre's time at 500 nodes, and the order from its depth-first start already
 * keeps each gateway's route tables and destinations together.
 */
function layered(model: GraphModel, big: boolean): Layout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", ranker: "longest-path", nodesep: 12, ranksep: 90 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of model.nodes) {
    const width = node.kind === "gateway" ? nodeSize.gatewayWidth : nodeSize.width;
    graph.setNode(node.id, { width, height: nodeSize.height });
  }
  for (const edge of model.edges) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph, { disableOptimalOrderHeuristic: big });
  const positions: Record<string, { x: number; y: number }> = {};
  for (const id of graph.nodes()) {
    const { x, y } = graph.node(id);
    positions[id] = { x, y };
  }
  const { width = 0, height = 0 } = graph.graph();
  return { positions, width, height };
}

interface Layout {
  positions: Record<string, { x: number; y: number }>;
  /** The drawing's extent: node centres lie within [0, width] × [0, height]. */
  width: number;
  height: number;
}

const zoomLimits = { min: 0.1, max: 3 };
const fitPadding = 30;

/**
 * The viewport that shows the whole layout, from dagre's extent. cytoscape's own `fit` measures every
 * element's bounding box, labels included: about a quarter of the drawing's time at 500 nodes.
 */
function fitted(layout: Layout, container: HTMLElement): { zoom: number; pan: { x: number; y: number } } {
  const width = Math.max(container.clientWidth - 2 * fitPadding, 1);
  const height = Math.max(container.clientHeight - 2 * fitPadding, 1);
  const fit = Math.min(width / Math.max(layout.width, 1), height / Math.max(layout.height, 1));
  const zoom = Math.min(Math.max(fit, zoomLimits.min), zoomLimits.max);
  return {
    zoom,
    pan: {
      x: (container.clientWidth - layout.width * zoom) / 2,
      y: Math.max((container.clientHeight - layout.height * zoom) / 2, fitPadding),
    },
  };
}

export function renderGraph(container: HTMLElement, model: GraphModel, onSelect: (id: string) => void): GraphView {
  const big = model.nodes.length > large;
  const layout = layered(model, big);
  const cy = cytoscape({
    container,
    // Elements given here are added in one batch, at the positions dagre gave them.
    elements: [
      ...model.nodes.map((n) => ({ data: { id: n.id, label: n.label, kind: n.kind } })),
      ...model.edges.map((e) => ({
        data: { id: e.id, source: e.source, target: e.target },
        classes: e.overlay ? "overlay" : "",
      })),
    ],
    style: [
      {
        selector: "node",
        style: {
          label: "data(label)",
          "font-size": 10,
          "min-zoomed-font-size": 6,
          "text-valign": "bottom",
          "text-margin-y": 4,
          width: 18,
          height: 18,
          "background-color": (node: cytoscape.NodeSingular) => colours[node.data("kind") as string] ?? "#444",
        },
      },
      { selector: "node[kind = 'policy']", style: { shape: "diamond" } },
      { selector: "node[kind = 'gateway']", style: { shape: "round-rectangle", width: 26 } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#f59e0b" } },
      {
        selector: "edge",
        style: {
          width: 1.5,
          "line-color": "#94a3b8",
          // Haystack edges are cytoscape's cheapest (no control points, no arrows): on a large graph the
          // columns (gateway → route table → destination → cluster) already say which way an edge goes.
          "target-arrow-shape": big ? "none" : "triangle",
          "target-arrow-color": "#94a3b8",
          "curve-style": big ? "haystack" : "bezier",
        },
      },
      {
        selector: "edge.overlay",
        style: { "line-style": "dashed", "line-color": "#fca5a5", "target-arrow-color": "#fca5a5" },
      },
      {
        selector: "edge[rate]",
        style: {
          label: "data(rate)",
          "font-size": 8,
          "min-zoomed-font-size": 6,
          "text-rotation": "autorotate",
          "text-background-color": "#ffffff",
          "text-background-opacity": 0.8,
          width: 2.5,
        },
      },
      { selector: "edge.failing", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626" } },
    ],
    layout: { name: "preset", positions: layout.positions, fit: false, animate: false },
    ...fitted(layout, container),
    textureOnViewport: big,
    hideEdgesOnViewport: big,
    pixelRatio: big ? 1 : "auto",
    minZoom: zoomLimits.min,
    maxZoom: zoomLimits.max,
  });
  cy.on("tap", "node", (event) => onSelect(event.target.id() as string));
  return {
    select(id) {
      cy.$(":selected").unselect();
      const node = cy.getElementById(id);
      node.select();
      cy.center(node);
    },
    showRates(rates) {
      const byEdge = new Map((rates.edges ?? []).map((r) => [r.edge, r]));
      cy.batch(() => {
        cy.edges().forEach((edge) => {
          const rate = byEdge.get(edge.id());
          if (rate) {
            edge.data("rate", rateLabel(rate));
            edge.toggleClass("failing", (rate.errorRatio ?? 0) > failingRatio);
          } else {
            edge.removeData("rate");
            edge.removeClass("failing");
          }
        });
      });
    },
    destroy() {
      cy.destroy();
    },
  };
}
