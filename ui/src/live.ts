// The live view: one Watch stream (store changes, and proxies' ACK/NACK and insights changes)
// turned into version counters per topic; a page re-reads what it shows when its topics move.
import { useEffect, useState } from "preact/hooks";
import { watch } from "./api";

export type Topic = "resources" | "proxies" | "insights";
export type Connection = "connecting" | "live" | "reconnecting";

const versions: Record<Topic, number> = { resources: 0, proxies: 0, insights: 0 };
const listeners = new Set<() => void>();
let connection: Connection = "connecting";

/** Re-reads are at most this often per burst (200 proxies ACKing at once are one re-read). */
const settleMs = 150;
let flushTimer: ReturnType<typeof setTimeout> | undefined;
const dirty = new Set<Topic>();

function bump(...topics: Topic[]): void {
  for (const topic of topics) dirty.add(topic);
  if (flushTimer !== undefined) return;
  flushTimer = setTimeout(() => {
    flushTimer = undefined;
    for (const topic of dirty) versions[topic] += 1;
    dirty.clear();
    for (const listener of listeners) listener();
  }, settleMs);
}

function setConnection(next: Connection): void {
  connection = next;
  for (const listener of listeners) listener();
}

let controller: AbortController | undefined;

/**
 * Opens the stream (again after a failure, with back-off up to 5 s); every reconnect re-reads all,
 * once the stream is back: re-reading at each failed attempt would only pile up calls that wait
 * (while sessions cannot be checked) or fail (while the server is away) meanwhile.
 */
export function startLive(): void {
  if (controller) return;
  const current = new AbortController();
  controller = current;
  let delayMs = 250;
  let missed = false;
  const loop = async () => {
    while (!current.signal.aborted) {
      try {
        const opened = () => {
          setConnection("live");
          delayMs = 250;
          if (missed) bump("resources", "proxies", "insights");
          missed = false;
        };
        await watch(
          opened,
          (event) => {
            const topics: Topic[] = [];
            if (event.resync) topics.push("resources", "proxies", "insights");
            if (event.upserted?.length || event.deleted?.length) topics.push("resources", "proxies");
            if (event.proxiesChanged) topics.push("proxies");
            if (event.insightsChanged) topics.push("insights");
            if (topics.length > 0) bump(...topics);
          },
          current.signal,
        );
      } catch {
        // Reconnected below; the pages show the last data meanwhile.
      }
      if (current.signal.aborted) return;
      setConnection("reconnecting");
      missed = true;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  };
  void loop();
}

export function stopLive(): void {
  controller?.abort();
  controller = undefined;
  connection = "connecting";
}

/** A number that changes whenever one of `topics` changes; put it in an effect's dependencies. */
export function useLive(...topics: Topic[]): number {
  const read = () => topics.reduce((sum, topic) => sum + versions[topic], 0);
  const [version, setVersion] = useState(read);
  useEffect(() => {
    const listener = () => setVersion(read());
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, [topics.join(",")]);
  return version;
}

export function useConnection(): Connection {
  const [state, setState] = useState(connection);
  useEffect(() => {
    const listener = () => setState(connection);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return state;
}
