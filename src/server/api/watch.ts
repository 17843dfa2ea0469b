// ManagementService.Watch: store changes (and, when asked, proxy and insight status changes) as a
// stream of events, bounded for a watcher that does not read.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type ManagementService, type WatchEvent, WatchEventSchema } from "../../gen/gantry/api/v1/management_pb.js";
import type { StoreChange } from "../../store/index.js";
import type { ManagementDeps } from "./deps.js";
import { toRef } from "./refs.js";

export function watchHandler(
  deps: Pick<ManagementDeps, "store" | "onStatusChange">,
): Pick<ServiceImpl<typeof ManagementService>, "watch"> {
  return {
    async *watch(request, context) {
      const queue: WatchEvent[] = [];
      let wake: (() => void) | undefined;
      let statusEvent: WatchEvent | undefined;
      const onChange = (change: StoreChange) => {
        const event =
          change.kind === "resync"
            ? create(WatchEventSchema, { revision: BigInt(change.revision), resync: true })
            : create(WatchEventSchema, {
                revision: BigInt(change.revision),
                upserted: change.upserted.filter((k) => !request.kind || k.kind === request.kind).map(toRef),
                deleted: change.deleted.filter((k) => !request.kind || k.kind === request.kind).map(toRef),
              });
        if (change.kind === "changed" && event.upserted.length === 0 && event.deleted.length === 0) return;
        // A watcher that does not read is cut off rather than buffered without bound.
        if (queue.length >= 1_000) {
          queue.splice(0, queue.length, create(WatchEventSchema, { revision: BigInt(change.revision), resync: true }));
          statusEvent = undefined;
        } else queue.push(event);
        wake?.();
      };
      // Status events are coalesced: one waiting in the queue takes every later change of its kind.
      const onStatus = (what: "proxies" | "insights") => {
        if (!statusEvent) {
          statusEvent = create(WatchEventSchema, {});
          queue.push(statusEvent);
        }
        if (what === "proxies") statusEvent.proxiesChanged = true;
        else statusEvent.insightsChanged = true;
        wake?.();
      };
      const unwatch = deps.store.watch(onChange);
      const unwatchStatus = request.status ? deps.onStatusChange?.(onStatus) : undefined;
      // A status watcher learns at once that the stream is open (the dashboard's live indicator).
      if (request.status) queue.push(create(WatchEventSchema, {}));
      const aborted = new Promise<void>((resolve) =>
        context.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
      try {
        while (!context.signal.aborted) {
          const next = queue.shift();
          if (next) {
            if (next === statusEvent) statusEvent = undefined;
            yield next;
            continue;
          }
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
          wake = undefined;
        }
      } finally {
        unwatch();
        unwatchStatus?.();
      }
    },
  };
}
