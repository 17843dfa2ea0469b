// What each worker process of `gantry extauth --workers N` runs (node:cluster's exec): its options
// come from the primary.
import { runWorker } from "../lib/index.js";
import { startExtAuthWorker } from "./workers.js";

await runWorker(startExtAuthWorker);
