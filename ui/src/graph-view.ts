// Draws the graph with cytoscape and the dagre layered layout. Loaded only by the graph page
// (its own chunk), so the first page does not carry it.
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";
import type { GraphModel } from "./graph-model";

cytoscape.use(dagre);

const colours: Record<string, string> = {
  gateway: "#1d4ed8",
  routetable: "#047857",
  destination: "#7c3aed",
  cluster: "#92400e",
  policy: "#b91c1c",
};

export interface GraphView {
  select(id: string): void;
  destroy(): void;
}

export function renderGraph(container: HTMLElement, model: GraphModel, onSelect: (id: string) => void): GraphView {
  const cy = cytoscape({
    container,
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
          "target-arrow-shape": "triangle",
          "target-arrow-color": "#94a3b8",
          "curve-style": "bezier",
        },
      },
      {
        selector: "edge.overlay",
        style: { "line-style": "dashed", "line-color": "#fca5a5", "target-arrow-color": "#fca5a5" },
      },
    ],
    // Longest-path ranking: the columns are the kinds already (gateway, route table, destination,
    // cluster), and it is far cheaper than network simplex on hundreds of nodes.
    layout: {
      name: "dagre",
      rankDir: "LR",
      ranker: "longest-path",
      nodeSep: 12,
      rankSep: 90,
    } as cytoscape.LayoutOptions,
    // Labels too small to read are not drawn; a large graph pans and zooms as a texture.
    textureOnViewport: model.nodes.length > 200,
    hideEdgesOnViewport: model.nodes.length > 200,
    minZoom: 0.1,
    maxZoom: 3,
  });
  cy.on("tap", "node", (event) => onSelect(event.target.id() as string));
  return {
    select(id) {
      cy.$(":selected").unselect();
      const node = cy.getElementById(id);
      node.select();
      cy.animate({ center: { eles: node } }, { duration: 200 });
    },
    destroy() {
      cy.destroy();
    },
  };
}
