// Small pieces every page uses: loading an API answer, states as badges, errors, times.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, type Ref, refHref, refText, type State } from "./api";

export type Loaded<T> =
  | { kind: "loading" }
  | { kind: "error"; error: ApiError }
  | { kind: "ready"; value: T; refreshing: boolean };

/** Runs `load` now and whenever `deps` change (a live version among them); keeps the last answer while re-reading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ kind: "loading" });
  useEffect(() => {
    let current = true;
    setState((previous) => (previous.kind === "ready" ? { ...previous, refreshing: true } : previous));
    load().then(
      (value) => current && setState({ kind: "ready", value, refreshing: false }),
      (err: unknown) =>
        current &&
        setState({ kind: "error", error: err instanceof ApiError ? err : new ApiError("unknown", String(err)) }),
    );
    return () => {
      current = false;
    };
  }, deps);
  return state;
}

export function Show<T>(props: { loaded: Loaded<T>; children: (value: T) => ComponentChildren }) {
  const { loaded } = props;
  if (loaded.kind === "loading") return <p aria-busy="true">Loading…</p>;
  if (loaded.kind === "error") return <ErrorBox error={loaded.error} />;
  return <>{props.children(loaded.value)}</>;
}

export function ErrorBox(props: { error: ApiError | string }) {
  const text = typeof props.error === "string" ? props.error : `${props.error.code}: ${props.error.message}`;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

const stateNames: Record<State, string> = {
  STATE_UNSPECIFIED: "pending",
  ACCEPTED: "accepted",
  WARNING: "warning",
  INVALID: "invalid",
  FAILED: "failed",
};

export function stateName(state: State | undefined): string {
  return stateNames[state ?? "STATE_UNSPECIFIED"];
}

/** A state or severity as text with a colour class; the text alone carries the meaning. */
export function Badge(props: { value: string }) {
  return <span class={`badge badge-${props.value.toLowerCase()}`}>{props.value}</span>;
}

export function RefLink(props: { value: Ref }) {
  return <a href={refHref(props.value)}>{refText(props.value)}</a>;
}

export function RefList(props: { refs: Ref[] | undefined; empty?: string }) {
  const refs = props.refs ?? [];
  if (refs.length === 0) return <p class="muted">{props.empty ?? "none"}</p>;
  return (
    <ul>
      {refs.map((ref) => (
        <li key={refText(ref)}>
          <RefLink value={ref} />
        </li>
      ))}
    </ul>
  );
}

export function time(value: string | undefined): string {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

export function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}

/** A labelled select whose options are `values` (the first, "", reads `all`). */
export function Filter(props: { label: string; value: string; values: string[]; onChange: (value: string) => void }) {
  const id = `filter-${props.label.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <span class="filter">
      <label for={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="">all</option>
        {props.values.map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
    </span>
  );
}
