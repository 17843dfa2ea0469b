import { describe, expect, it } from "vitest";
import {
  ApiProvider,
  type ConfigProvider,
  type ConfigSnapshot,
  LiveConfig,
  SnapshotPublisher,
} from "../../src/config/index.js";

/** A compile step the test finishes by hand, to look at what is served meanwhile. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Compiled {
  readonly words: string[];
}

function setup() {
  const log: string[] = [];
  const pending: Array<{ input: string; done: ReturnType<typeof deferred<Compiled>> }> = [];
  let manual = false;
  const live = new LiveConfig<string, Compiled>({
    compile: (config, serving) => {
      log.push(`compile ${config} over ${serving?.words.join(",") ?? "nothing"}`);
      if (config.includes("!")) throw new Error(`"${config}": no exclamations`);
      if (!manual) return { words: config.split(" ") };
      const done = deferred<Compiled>();
      pending.push({ input: config, done });
      return done.promise;
    },
    install: (next, previous) =>
      log.push(`install ${next.words.join(",")} after ${previous?.words.join(",") ?? "nothing"}`),
    onLoaded: (snapshot: ConfigSnapshot<string>, _compiled, source) =>
      log.push(`loaded ${snapshot.version} from ${source}`),
    onFailed: (error, source) => log.push(`failed from ${source}: ${error.message}`),
  });
  const api = new ApiProvider<string>({
    source: "api",
    check: (config) => {
      if (config === "") throw new Error("empty");
    },
  });
  return {
    live,
    api,
    log,
    pending,
    manual: () => {
      manual = true;
    },
  };
}

describe("live config", () => {
  it("compiles, installs and reports each snapshot, handing the compiler what is served", async () => {
    const { live, api, log } = setup();
    await live.follow(api);
    await api.push("a b");
    await api.push("c");
    expect(live.serving?.words).toEqual(["c"]);
    expect(live.version).toBe("api-2");
    expect(log).toEqual([
      "compile a b over nothing",
      "install a,b after nothing",
      "loaded api-1 from api",
      "compile c over a,b",
      "install c after a,b",
      "loaded api-2 from api",
    ]);
  });

  it("keeps serving the old config while a new one compiles, and compiles one at a time in order", async () => {
    const { live, api, log, pending, manual } = setup();
    await live.follow(api);
    await api.push("old");
    manual();
    const first = api.push("new");
    const second = api.push("newer");
    await new Promise((resolve) => setImmediate(resolve));
    expect(pending.map((p) => p.input)).toEqual(["new"]);
    expect(live.serving?.words).toEqual(["old"]);
    pending[0]?.done.resolve({ words: ["new"] });
    await first;
    expect(live.serving?.words).toEqual(["new"]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(pending.map((p) => p.input)).toEqual(["new", "newer"]);
    pending[1]?.done.reject(new Error("backend away"));
    await expect(second).rejects.toThrow("backend away");
    expect(live.serving?.words).toEqual(["new"]);
    expect(log.filter((l) => l.startsWith("install") || l.startsWith("failed"))).toEqual([
      "install old after nothing",
      "install new after old",
      "failed from api: backend away",
    ]);
  });

  it("reports every failure once, the provider's and the compiler's, and installs nothing of them", async () => {
    const { live, api, log } = setup();
    await live.follow(api);
    await api.push("good");
    expect(() => api.push("")).toThrow("empty");
    await expect(api.push("bad!")).rejects.toThrow('"bad!": no exclamations');
    expect(log.filter((l) => l.startsWith("failed"))).toEqual([
      "failed from api: empty",
      'failed from api: "bad!": no exclamations',
    ]);
    expect(live.serving?.words).toEqual(["good"]);
    expect(api.current()?.version).toBe("api-1");
  });

  it("rejects a provider whose first snapshot cannot be served, and lets go of it", async () => {
    const { live, log } = setup();
    const publisher = new SnapshotPublisher<string>();
    let stopped = false;
    // Like a file: it has a config at start.
    const provider: ConfigProvider<string> = {
      source: "first",
      start: () => publisher.offer({ version: "v1", config: "no!" }),
      stop: async () => {
        stopped = true;
      },
      subscribe: (subscriber) => publisher.subscribe(subscriber),
      current: () => publisher.current(),
    };
    await expect(live.follow(provider)).rejects.toThrow("no exclamations");
    expect(stopped).toBe(true);
    await publisher.offer({ version: "v2", config: "later" });
    expect(log).toEqual(["compile no! over nothing", 'failed from first: "no!": no exclamations']);
    expect(live.serving).toBeUndefined();
  });

  it("stops its providers and waits for a compile in progress to be installed", async () => {
    const { live, api, pending, manual } = setup();
    await live.follow(api);
    manual();
    const taken = api.push("last");
    await new Promise((resolve) => setImmediate(resolve));
    let stopped = false;
    const stopping = live.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    pending[0]?.done.resolve({ words: ["last"] });
    await Promise.all([taken, stopping]);
    expect(live.serving?.words).toEqual(["last"]);
    await api.push("after stop");
    expect(live.serving?.words).toEqual(["last"]);
  });
});

describe("live config, in two phases (a worker of --workers)", () => {
  function staged() {
    const log: string[] = [];
    const live = new LiveConfig<string, Compiled>({
      compile: (config) => {
        if (config.includes("!")) throw new Error(`"${config}": no exclamations`);
        return { words: config.split(" ") };
      },
      install: (next) => log.push(`install ${next.words.join(",")}`),
      discard: (compiled, serving) => {
        log.push(`discard ${compiled.words.join(",")} keeping ${serving?.words.join(",") ?? "nothing"}`);
      },
      onLoaded: (snapshot) => log.push(`loaded ${snapshot.version}`),
      onFailed: (error) => log.push(`failed: ${error.message}`),
    });
    return { live, log };
  }

  it("compiles on stage, installs only on commit, and once", async () => {
    const { live, log } = staged();
    const first = await live.stage({ version: "v1", config: "a b" }, "primary");
    expect(live.serving).toBeUndefined();
    expect(log).toEqual([]);
    first.commit();
    first.commit();
    expect(live.serving?.words).toEqual(["a", "b"]);
    expect(live.version).toBe("v1");
    expect(log).toEqual(["install a,b", "loaded v1"]);
  });

  it("drops an aborted snapshot (its resources released) and keeps serving the last one", async () => {
    const { live, log } = staged();
    (await live.stage({ version: "v1", config: "a" }, "primary")).commit();
    const second = await live.stage({ version: "v2", config: "b" }, "primary");
    await second.abort();
    second.commit();
    expect(live.version).toBe("v1");
    expect(log).toEqual(["install a", "loaded v1", "discard b keeping a"]);
  });

  it("holds every later snapshot until the staged one is committed or aborted", async () => {
    const { live, log } = staged();
    const first = await live.stage({ version: "v1", config: "a" }, "primary");
    let secondStaged = false;
    const second = live.stage({ version: "v2", config: "b" }, "primary").then((s) => {
      secondStaged = true;
      return s;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(secondStaged).toBe(false);
    first.commit();
    (await second).commit();
    expect(live.version).toBe("v2");
    expect(log).toEqual(["install a", "loaded v1", "install b", "loaded v2"]);
  });

  it("reports a refused snapshot once, stages nothing, and lets the next one through", async () => {
    const { live, log } = staged();
    await expect(live.stage({ version: "v1", config: "no!" }, "primary")).rejects.toThrow("no exclamations");
    (await live.stage({ version: "v2", config: "yes" }, "primary")).commit();
    expect(log).toEqual(['failed: "no!": no exclamations', "install yes", "loaded v2"]);
  });
});
