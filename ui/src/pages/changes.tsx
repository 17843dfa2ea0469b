// A resource's last changes: consecutive versions from ResourceHistory, diffed line by line (YAML).
import { diffLines } from "diff";
import { stringify } from "yaml";
import { call, type Ref } from "../api";
import { Show, time, useLoad } from "../components";

interface Version {
  revision?: string;
  seenAt?: string;
  document?: unknown;
  deleted?: boolean;
}

export function Changes(props: { reference: Ref; live: number }) {
  const { kind, namespace, name } = props.reference;
  const loaded = useLoad(
    () => call<{ versions?: Version[] }>("ResourceHistory", { kind, namespace, name }),
    [props.live, kind, namespace, name],
  );
  return (
    <Show loaded={loaded}>
      {({ versions = [] }) => {
        if (versions.length < 2) {
          return (
            <p class="muted">
              No change since this server started{versions.length === 1 ? ` (revision ${versions[0]?.revision})` : ""}.
            </p>
          );
        }
        const text = (v: Version) => (v.deleted ? "" : stringify(v.document));
        const pairs = versions.slice(1).map((next, i) => ({ before: versions[i] as Version, next }));
        return (
          <ol class="changes" reversed>
            {pairs.reverse().map(({ before, next }) => (
              <li key={next.revision}>
                <p>
                  revision {before.revision} → {next.revision}
                  {next.deleted ? " (deleted)" : ""} <span class="muted">{time(next.seenAt)}</span>
                </p>
                <pre class="diff">
                  {diffLines(text(before), text(next)).flatMap((part, i) =>
                    part.value
                      .replace(/\n$/, "")
                      .split("\n")
                      .filter((_, j) => part.added || part.removed || j < 3)
                      .map((line, j) => (
                        <span key={`${i}-${j}`} class={part.added ? "add" : part.removed ? "del" : "same"}>
                          {part.added ? "+ " : part.removed ? "- " : "  "}
                          {line}
                          {"\n"}
                        </span>
                      )),
                  )}
                </pre>
              </li>
            ))}
          </ol>
        );
      }}
    </Show>
  );
}
