// Memoisation for the translator, kept apart from what it builds: values by the inputs they were
// computed from, so that a re-translation computes only what a change reaches.

/** A kept value with its identity: equal ids, the same value, so ids can key what is made of it. */
export interface Kept<T> {
  readonly id: number;
  readonly value: T;
}

/**
 * Values by a string of their inputs. A translation may reuse what the last completed one used;
 * the rest is forgotten, so memory follows what is served.
 */
export class KeyedMemo<T> {
  #previous = new Map<string, Kept<T>>();
  #current = new Map<string, Kept<T>>();

  constructor(private readonly nextId: () => number) {}

  get(key: string, compute: () => T): Kept<T> {
    let kept = this.#current.get(key);
    if (kept !== undefined) return kept;
    kept = this.#previous.get(key) ?? { id: this.nextId(), value: compute() };
    this.#current.set(key, kept);
    return kept;
  }

  /** Called by Memo when a translation starts. */
  begin(): void {
    this.#current = new Map();
  }

  /** Called by Memo when a translation completed. */
  commit(): void {
    this.#previous = this.#current;
  }
}

/**
 * Values by an input object (and a variant naming the other inputs), kept while the object lives:
 * for inputs handed out again unchanged, such as the model routes of an unchanged route table.
 */
export class ObjectMemo<O extends object, T> {
  readonly #byVariant = new Map<string, WeakMap<O, Kept<T>>>();

  constructor(private readonly nextId: () => number) {}

  get(object: O, variant: string, compute: (object: O) => T): Kept<T> {
    let byObject = this.#byVariant.get(variant);
    if (byObject === undefined) {
      byObject = new WeakMap();
      this.#byVariant.set(variant, byObject);
    }
    let kept = byObject.get(object);
    if (kept === undefined) {
      kept = { id: this.nextId(), value: compute(object) };
      byObject.set(object, kept);
    }
    return kept;
  }
}

/** The memos of one translator: they share one id sequence and step generations together. */
export class Memo {
  #nextId = 1;
  readonly #keyed: { begin(): void; commit(): void }[] = [];
  readonly #ids = () => this.#nextId++;

  keyed<T>(): KeyedMemo<T> {
    const memo = new KeyedMemo<T>(this.#ids);
    this.#keyed.push(memo);
    return memo;
  }

  byObject<O extends object, T>(): ObjectMemo<O, T> {
    return new ObjectMemo<O, T>(this.#ids);
  }

  /** Starts a translation: keyed values are then kept only if it uses them. */
  begin(): void {
    for (const memo of this.#keyed) memo.begin();
  }

  /** Ends a translation that completed: what it used is what the next may reuse. */
  commit(): void {
    for (const memo of this.#keyed) memo.commit();
  }
}
