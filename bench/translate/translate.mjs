// Benchmark: translation time and memory for 1,000 and 10,000 routes across 100 gateways (one
// proxy group each), and re-translation after a one-route change: how long it takes and how many
// proxy groups get a changed resource (only those are re-sent). Runs in this process, nothing
// on the network.
//   npm run build && node --expose-gc bench/translate/translate.mjs
// Writes bench/results/translate.md.
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromJson } from "@bufbuild/protobuf";
import { specSchemas } from "../../dist/resources/index.js";
import { Translator } from "../../dist/translate/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const gateways = 100;
const routeTablesPerGateway = 5;
const destinations = 500;
const sizes = [1_000, 10_000];
const rounds = 5;
const changesPerRound = 8;
const goals = { fullMs: 1000, oneRouteMs: 50 };

if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(1);
}

function resource(kind, name, spec, labels = {}) {
  return { kind, metadata: { name, namespace: "bench", labels }, spec: fromJson(specSchemas[kind], spec) };
}

/** 100 gateways, 5 route tables each, the routes spread evenly; policies attached by label. */
function world(routes, { changedRoute } = {}) {
  const out = [];
  for (let d = 0; d < destinations; d++) {
    out.push(
      resource("Destination", `svc-${d}`, {
        ports: [{ number: 8080 }],
        endpoints: [0, 1, 2].map((e) => ({ address: `10.${d >> 8}.${d & 255}.${e + 1}`, locality: { zone: `z${e}` } })),
      }),
    );
  }
  const perTable = routes / (gateways * routeTablesPerGateway);
  let n = 0;
  for (let g = 0; g < gateways; g++) {
    out.push(
      resource("Gateway", `gw-${g}`, { proxies: { labels: { gateway: `gw-${g}` } }, listeners: [{ port: 8080 }] }),
    );
    for (let t = 0; t < routeTablesPerGateway; t++) {
      const http = [];
      for (let r = 0; r < perTable; r++, n++) {
        const prefix = n === changedRoute ? `/changed/${r}` : `/api/${t}/r${r}`;
        http.push({
          name: `r${r}`,
          labels: { tier: r % 3 === 0 ? "gold" : "silver", retry: r % 2 === 0 ? "yes" : "no" },
          matchers: [{ prefix, headers: r % 5 === 0 ? [{ name: "x-canary", value: "1" }] : [] }],
          forwardTo: {
            destinations: [
              { destination: { name: `svc-${n % destinations}` }, weight: 90 },
              { destination: { name: `svc-${(n + 1) % destinations}` }, weight: 10 },
            ],
            timeout: "5s",
          },
        });
      }
      out.push(
        resource("RouteTable", `rt-${g}-${t}`, {
          hosts: [`h${t}.gw${g}.example.com`],
          gateways: [{ name: `gw-${g}` }],
          http,
        }),
      );
    }
  }
  out.push(
    resource("RetryTimeoutPolicy", "retries", {
      applyToRoutes: [{ route: { labels: { retry: "yes" } } }],
      retry: { retryOn: ["5xx"], attempts: 2 },
    }),
    resource("HeaderPolicy", "headers", {
      applyToRoutes: [{ route: { labels: {} } }],
      responseHeadersToAdd: [{ name: "x-served-by", value: "gantry" }],
    }),
    resource("ExtAuthPolicy", "gold-auth", {
      applyToRoutes: [{ route: { labels: { tier: "gold" } } }],
      authConfig: { name: "gold" },
    }),
  );
  return out;
}

function groupVersions(translation) {
  return new Map(translation.groups.map((g) => [g.name, g.resources.map((r) => `${r.name}=${r.version}`).join(",")]));
}

/** JavaScript heap plus the buffers the encoded resources live in. */
function usedMemory() {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** CPU time (user + system, all threads) since `start`, in ms: less hurt than wall time by other load. */
function cpuMs(start) {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function measure(routes) {
  const base = world(routes);
  // A store hands out the same objects for unchanged resources: only the edited route table is new.
  const changedRoute = Math.floor(routes / 2);
  const changed = world(routes, { changedRoute });
  const table = Math.floor(changedRoute / (routes / (gateways * routeTablesPerGateway)));
  const changedName = `rt-${Math.floor(table / routeTablesPerGateway)}-${table % routeTablesPerGateway}`;
  const edited = base.map((r, i) => (r.metadata.name === changedName ? changed[i] : r));
  if (edited.filter((r, i) => r !== base[i]).length !== 1) throw new Error("expected exactly one changed resource");
  const full = [];
  const fullCpu = [];
  const oneRoute = [];
  const oneRouteCpu = [];
  let retainedMiB = 0;
  let resourcesOut = 0;
  let bytesOut = 0;
  let groupsResent = 0;
  for (let round = 0; round < rounds; round++) {
    globalThis.gc();
    const heapBefore = usedMemory();
    const translator = new Translator({ extAuth: { host: "127.0.0.1", port: 8083 } });
    let start = process.hrtime.bigint();
    let cpu = process.cpuUsage();
    const first = translator.translate(base);
    full.push(Number(process.hrtime.bigint() - start) / 1e6);
    fullCpu.push(cpuMs(cpu));
    globalThis.gc();
    if (round === 0) retainedMiB = (usedMemory() - heapBefore) / 2 ** 20;
    resourcesOut = first.groups.reduce((n, g) => n + g.resources.length, 0);
    bytesOut = first.groups.reduce((n, g) => n + g.resources.reduce((m, r) => m + r.value.length, 0), 0);
    if (first.groups.some((g) => g.rejected)) throw new Error("translation rejected");
    // The route is changed and changed back, several times: each is a one-route change.
    for (let change = 0; change < changesPerRound; change++) {
      const next = change % 2 === 0 ? edited : base;
      const previous = groupVersions(translator.translate(change % 2 === 0 ? base : edited));
      start = process.hrtime.bigint();
      cpu = process.cpuUsage();
      const after = translator.translate(next);
      oneRoute.push(Number(process.hrtime.bigint() - start) / 1e6);
      oneRouteCpu.push(cpuMs(cpu));
      groupsResent = Math.max(
        groupsResent,
        [...groupVersions(after)].filter(([name, v]) => previous.get(name) !== v).length,
      );
    }
  }
  return { routes, full, fullCpu, oneRoute, oneRouteCpu, retainedMiB, resourcesOut, bytesOut, groupsResent };
}

const loadBefore = loadavg()[0];
const results = sizes.map(measure);
const cpu = cpus()[0]?.model ?? "unknown CPU";
const lines = [
  "# Translation: time and memory",
  "",
  `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Node ${process.version}.`,
  `Load average while measuring (1 min, other work shares the machine): ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end.`,
  "",
  `Input: ${gateways} gateways (one proxy group each), ${routeTablesPerGateway} route tables per gateway, ${destinations} destinations`,
  "with 3 endpoints each, every route split 90/10 over two destinations with a timeout, a fifth with a header",
  "match; a retry policy on half the routes, a header policy on all, ext-auth on a third. Output validated",
  `against Envoy's (validate.rules) and encoded. ${rounds} rounds each, a new Translator per round: the first round`,
  "of the first size also pays for JIT warm-up; later rounds show a full re-translation in a running server. One-route",
  `changes: ${changesPerRound} per round on a warm Translator, the same route changed and changed back; only that`,
  "route table is a new object, as a store hands them out.",
  "",
  "| routes | first full translation, cold process: wall ms (CPU ms) | full translation, warm process: wall ms median (CPU ms) | warm wall vs goal 1 s | one-route change: wall ms median (CPU ms) | wall range | vs goal 50 ms | groups re-sent | resources out | bytes out | memory retained MiB (heap + buffers) |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
  ...results.map((r) => {
    const warm = median(r.full.slice(1));
    const one = median(r.oneRoute);
    return `| ${r.routes.toLocaleString("en")} | ${r.full[0].toFixed(0)} (${r.fullCpu[0].toFixed(0)}) | ${warm.toFixed(0)} (${median(r.fullCpu.slice(1)).toFixed(0)}) | ${(warm / goals.fullMs).toFixed(2)}× | ${one.toFixed(1)} (${median(r.oneRouteCpu).toFixed(1)}) | ${Math.min(...r.oneRoute).toFixed(1)}–${Math.max(...r.oneRoute).toFixed(1)} | ${(one / goals.oneRouteMs).toFixed(2)}× | ${r.groupsResent} of ${gateways} | ${r.resourcesOut} | ${r.bytesOut.toLocaleString("en")} | ${r.retainedMiB.toFixed(1)} |`;
  }),
  "",
  '"vs goal" below 1.00× meets the goal. CPU ms counts the CPU time of this process (all threads, GC included); with',
  "other work on the machine, wall time waits for a core and CPU time is the closer measure of the cost.",
  '"groups re-sent" counts the proxy groups with any changed resource version after the one-route change: only',
  "those get a push.",
  "",
];
const out = join(here, "..", "results", "translate.md");
writeFileSync(out, lines.join("\n"));
console.log(lines.join("\n"));
