/**
 * One cluster source kept up to date: a paginated LIST, then a WATCH from the list's
 * resourceVersion with bookmarks, as client-go's reflector does (tools/cache/reflector.go): a
 * watch the server ends (its timeout) is opened again from the last resourceVersion seen; 410 Gone
 * (the version is too old), or any other error after a backoff, brings a new LIST, which replaces
 * everything kept, so nothing is counted twice and nothing deleted meanwhile stays.
 * Pure: the API calls and the timers are passed in. Only what `spec.extract` keeps of an object is
 * held, never the object; a scrape reads the store and makes no API call.
 */
import { objectKey, type ClusterSourceSpec, type ObjectExport } from "./cluster-sources.js";
import type { ExportError, LabelledCertificate, SourceState } from "./series.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

/** The API server, as the reflector needs it (src/io/exporter-api.ts). */
export interface ListWatchApi {
  /** One page of a list; `continue` is the token for the next, absent on the last. */
  readonly list: (path: string, params: Readonly<Record<string, string | number>>) => Promise<{ readonly items: readonly unknown[]; readonly resourceVersion: string; readonly continue?: string }>;
  /** A watch; `onEnd` runs once, with an error (status 410 for Gone) or without (the server's timeout, or stop()). */
  readonly watch: (
    path: string,
    params: Readonly<Record<string, string | number>>,
    onEvent: (type: WatchEventType, obj: unknown) => void,
    onEnd: (error?: unknown) => void,
  ) => Promise<{ readonly stop: () => void }>;
  /** The HTTP status of an error the two above threw or ended with, if it has one. */
  readonly statusOf: (error: unknown) => number | undefined;
}

export interface ReflectorOptions {
  /** Objects per LIST page (client-go's reflector asks for 500). */
  readonly pageSize: number;
  /** The watch's timeoutSeconds: the server ends it then, and it is opened again. */
  readonly watchTimeoutSeconds: number;
  /** Waits; injected so that tests need no real time. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Milliseconds since some fixed point (a watch that ends within a second of its start, with nothing on it, is retried after a backoff). */
  readonly now: () => number;
  /** Something changed in what is exported. */
  readonly changed: () => void;
  readonly log: (message: string) => void;
}

/** client-go's reflector backoff: 800 ms, doubling, at most 30 s. */
export const backoffMs = (attempt: number): number => Math.min(800 * 2 ** attempt, 30_000);

export class Reflector {
  readonly spec: ClusterSourceSpec;
  private readonly api: ListWatchApi;
  private readonly opts: ReflectorOptions;
  private objects = new Map<string, ObjectExport>();
  private readonly errors = new Map<string, number>();
  private synced = false;
  private stopped = false;
  private watch: { readonly stop: () => void } | undefined;
  /** LISTs done, and watches ended by 410 Gone: for tests and logs. */
  lists = 0;
  gone = 0;

  constructor(spec: ClusterSourceSpec, api: ListWatchApi, opts: ReflectorOptions) {
    this.spec = spec;
    this.api = api;
    this.opts = opts;
  }

  /** Whether the first LIST has completed. */
  get up(): boolean {
    return this.synced;
  }

  /** x509_source_up and x509_source_errors_total's state. */
  state(): SourceState {
    return { kind: this.spec.kind, name: this.spec.name, up: this.synced, errors: new Map(this.errors), resyncs: { resource: this.spec.path.slice(this.spec.path.lastIndexOf("/") + 1), count: this.gone } };
  }

  certificates(): LabelledCertificate[] {
    const out: LabelledCertificate[] = [];
    for (const o of this.objects.values()) out.push(...o.certificates);
    return out;
  }

  exportErrors(): ExportError[] {
    const out: ExportError[] = [];
    for (const o of this.objects.values()) out.push(...o.errors);
    return out;
  }

  /** Runs until stop(): resolves then. */
  async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let rv: string;
      try {
        rv = await this.listAll();
      } catch (error) {
        if (this.stopped) return;
        this.count("api_error");
        const wait = backoffMs(attempt++);
        this.opts.log(`listing ${this.spec.path} failed (${(error as Error).message}); again in ${wait} ms`);
        await this.opts.sleep(wait);
        continue;
      }
      attempt = 0;
      // Watch from the list's version; a watch the server ends is opened again from the last version
      // seen, at once, unless it ended within a second with nothing on it (a server that closes every
      // watch: then after a backoff, not in a tight loop).
      let quick = 0;
      for (;;) {
        const started = this.opts.now();
        const ended = await this.watchFrom(rv);
        if (this.stopped) return;
        rv = ended.rv;
        if (ended.error === undefined) {
          if (ended.events === 0 && this.opts.now() - started < 1000) await this.opts.sleep(backoffMs(quick++));
          else quick = 0;
          continue;
        }
        if (this.api.statusOf(ended.error) === 410) {
          this.gone++;
          break; // too old: list again
        }
        this.count("api_error");
        const wait = backoffMs(attempt++);
        this.opts.log(`the watch of ${this.spec.path} failed (${(ended.error as Error).message ?? String(ended.error)}); listing again in ${wait} ms`);
        await this.opts.sleep(wait);
        break;
      }
    }
  }

  /** One LIST, for `exporter --once`: throws when it fails. */
  async listOnce(): Promise<void> {
    await this.listAll();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
  }

  /** Counts an error; x509_source_errors_total is part of what a scrape sends, so that changes too. */
  private count(reason: string, n = 1): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + n);
    this.opts.changed();
  }

  /** Counts a kept object's errors, as x509-certificate-exporter counts a bundle's at each upsert. */
  private keep(into: Map<string, ObjectExport>, obj: unknown): boolean {
    const e = this.spec.extract(obj);
    if (!e) return false;
    const had = into.has(e.key);
    if (e.kept) {
      into.set(e.key, e.kept);
      for (const err of e.kept.errors) this.count(err.reason);
    } else into.delete(e.key);
    return had || e.kept !== undefined;
  }

  /** Every page; replaces the store when the last page is in. A continue token that expired (410) starts the list again. */
  private async listAll(): Promise<string> {
    const fresh = new Map<string, ObjectExport>();
    const base: Record<string, string | number> = { limit: this.opts.pageSize };
    if (this.spec.fieldSelector) base["fieldSelector"] = this.spec.fieldSelector;
    if (this.spec.labelSelector) base["labelSelector"] = this.spec.labelSelector;
    let token: string | undefined;
    let rv = "";
    while (!this.stopped) {
      let page;
      try {
        page = await this.api.list(this.spec.path, token ? { ...base, continue: token } : base);
      } catch (error) {
        if (token !== undefined && this.api.statusOf(error) === 410) {
          // The continue token's version was compacted away: the whole list again, from its first page.
          fresh.clear();
          token = undefined;
          continue;
        }
        throw error;
      }
      for (const item of page.items) this.keep(fresh, item);
      rv = page.resourceVersion;
      token = page.continue || undefined;
      if (token === undefined) break;
    }
    this.objects = fresh;
    this.lists++;
    this.synced = true;
    this.opts.changed();
    return rv;
  }

  /** One watch, until it ends: resolves with the last resourceVersion seen, how many events came, and the error it ended with, if any. */
  private watchFrom(rv: string): Promise<{ rv: string; events: number; error?: unknown }> {
    return new Promise((resolve) => {
      let last = rv;
      let events = 0;
      const params: Record<string, string | number> = { resourceVersion: rv, timeoutSeconds: this.opts.watchTimeoutSeconds };
      if (this.spec.fieldSelector) params["fieldSelector"] = this.spec.fieldSelector;
      if (this.spec.labelSelector) params["labelSelector"] = this.spec.labelSelector;
      const onEvent = (type: WatchEventType, obj: unknown): void => {
        events++;
        const version = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
        if (typeof version === "string" && version) last = version;
        if (type === "BOOKMARK") return;
        if (type === "DELETED") {
          const key = objectKey(obj);
          if (key !== undefined && this.objects.delete(key)) this.opts.changed();
          return;
        }
        if (this.keep(this.objects, obj)) this.opts.changed();
      };
      this.api
        .watch(this.spec.path, params, onEvent, (error) => {
          this.watch = undefined;
          resolve({ rv: last, events, ...(error === undefined ? {} : { error }) });
        })
        .then((handle) => {
          this.watch = handle;
          if (this.stopped) handle.stop();
        })
        .catch((error: unknown) => resolve({ rv: last, events, error }));
    });
  }
}
