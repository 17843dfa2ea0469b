import { ResourceStatus_State as State } from "../gen/gantry/v1/status_pb.js";

export { State };

/** One resource's outcome. */
export interface Status {
  state: State;
  messages: string[];
}

const severity: Record<State, number> = {
  [State.STATE_UNSPECIFIED]: 0,
  [State.ACCEPTED]: 1,
  [State.WARNING]: 2,
  [State.INVALID]: 3,
  [State.FAILED]: 4,
};

/** Collects statuses while normalizing: the worst state wins, every message is kept in order. */
export class StatusCollector {
  readonly #statuses = new Map<string, Status>();

  accept(key: string): void {
    if (!this.#statuses.has(key)) this.#statuses.set(key, { state: State.ACCEPTED, messages: [] });
  }

  report(key: string, state: State, message: string): void {
    const status = this.#statuses.get(key) ?? { state: State.ACCEPTED, messages: [] };
    if (severity[state] > severity[status.state]) status.state = state;
    if (!status.messages.includes(message)) status.messages.push(message);
    this.#statuses.set(key, status);
  }

  warn(key: string, message: string): void {
    this.report(key, State.WARNING, message);
  }

  invalid(key: string, message: string): void {
    this.report(key, State.INVALID, message);
  }

  get(key: string): Status | undefined {
    return this.#statuses.get(key);
  }

  /** Every status, by resource key in sorted order. */
  all(): Map<string, Status> {
    return new Map([...this.#statuses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
