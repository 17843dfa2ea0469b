// "Since when" for rejected resources: the time each was first rejected with the messages it has
// now, kept across re-translations while they stay the same. Pure: the server passes the time.
import { State, type Status } from "../translate/index.js";

/** Per rejected resource (`Kind/namespace/name`): its messages and when it was first rejected with them. */
export type RejectionTimes = ReadonlyMap<string, { readonly reason: string; readonly since: number }>;

function isRejected(status: Status): boolean {
  return status.state === State.INVALID || status.state === State.FAILED;
}

/**
 * The rejection times after a translation at `now`: a resource rejected for the same reason as
 * before keeps its time; a new reason, or a new rejection, starts at `now`; an accepted one drops out.
 */
export function rejectionTimes(
  previous: RejectionTimes,
  statuses: ReadonlyMap<string, Status>,
  now: number,
): RejectionTimes {
  const next = new Map<string, { reason: string; since: number }>();
  for (const [key, status] of statuses) {
    if (!isRejected(status)) continue;
    const reason = status.messages.join("\n");
    const before = previous.get(key);
    next.set(key, { reason, since: before?.reason === reason ? before.since : now });
  }
  return next;
}
