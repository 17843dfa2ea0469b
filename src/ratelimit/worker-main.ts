// What each worker process of `gantry ratelimit --workers N` runs (node:cluster's exec): its options
// come from the primary.
import { runWorker } from "../lib/index.js";
import { startRateLimitWorker } from "./workers.js";

await runWorker(startRateLimitWorker);
