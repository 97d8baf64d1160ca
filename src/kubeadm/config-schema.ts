/**
 * The field tree of kubeadm's config kinds (kubeadm.k8s.io/v1beta3 and v1beta4), and the check of a
 * kubeadm config file against it: unknown, misplaced and duplicated fields, with file and line.
 *
 * Field names are the `json:"..."` tags of kubernetes/kubernetes
 * cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go (commit 1329935739c3, with Timeouts, EncryptionAlgorithm,
 * CertificateValidityPeriod, UpgradeConfiguration) and cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go,
 * plus cmd/kubeadm/app/apis/bootstraptoken/v1/types.go (BootstrapToken) and k8s.io/api core/v1
 * (Taint, EnvVar). kubeadm decodes field names case-sensitively (sigs.k8s.io/json), so this does too.
 */
import type { Document, LineCounter, Node as YamlNode } from "yaml";
import { invalidInput } from "../errors.js";
import { closestName, editDistance } from "../suggest.js";

export { closestName, editDistance };

/** The shape of one field's value. */
export type FieldSchema =
  /** A string, number, boolean, duration or timestamp. */
  | { readonly type: "scalar" }
  /** Anything (a field kpki does not check inside, such as an EnvVar's valueFrom). */
  | { readonly type: "unchecked" }
  /** A list whose items all have the same shape; `hint` says what the list holds, for shape errors. */
  | { readonly type: "list"; readonly of: FieldSchema; readonly hint?: string }
  /** A struct: only these field names are allowed. */
  | ObjectSchema
  /** A free-form map (featureGates, v1beta3 extraArgs): every key is allowed; values have one shape. */
  | { readonly type: "map"; readonly values: FieldSchema };

export interface ObjectSchema {
  readonly type: "object";
  readonly fields: Readonly<Record<string, FieldSchema>>;
}

export type KubeadmApiVersion = "v1beta3" | "v1beta4";

/** The kubeadm API group; documents of other groups (KubeletConfiguration, KubeProxyConfiguration) are not checked. */
export const KUBEADM_GROUP = "kubeadm.k8s.io";

const scalar: FieldSchema = { type: "scalar" };
const unchecked: FieldSchema = { type: "unchecked" };
const strings: FieldSchema = { type: "list", of: scalar, hint: "a list of strings" };
const list = (of: FieldSchema, hint?: string): FieldSchema => (hint === undefined ? { type: "list", of } : { type: "list", of, hint });
const obj = (fields: Record<string, FieldSchema>): ObjectSchema => ({ type: "object", fields });
const map = (values: FieldSchema): FieldSchema => ({ type: "map", values });

/**
 * The field trees of both versions, built on first use (by a check of a kubeadm config file): the
 * CLI loads this module at every start, and building them took about 0.2 ms and 25 KiB.
 */
function buildSchemas(): Readonly<Record<KubeadmApiVersion, Readonly<Record<string, ObjectSchema>>>> {
  // metav1.TypeMeta, inlined in every kind.
  const typeMeta = { apiVersion: scalar, kind: scalar };

  // Types shared by both versions.
  const imageMeta = { imageRepository: scalar, imageTag: scalar };
  const apiEndpoint = obj({ advertiseAddress: scalar, bindPort: scalar });
  // core/v1 Taint.
  const taint = obj({ key: scalar, value: scalar, effect: scalar, timeAdded: scalar });
  const hostPathMount = obj({ name: scalar, hostPath: scalar, mountPath: scalar, readOnly: scalar, pathType: scalar });
  const networking = obj({ serviceSubnet: scalar, podSubnet: scalar, dnsDomain: scalar });
  const externalEtcd = obj({ endpoints: strings, caFile: scalar, certFile: scalar, keyFile: scalar });
  // bootstraptoken/v1 BootstrapToken; the token itself (BootstrapTokenString) is written as one string.
  const bootstrapToken = obj({ token: scalar, description: scalar, ttl: scalar, expires: scalar, usages: strings, groups: strings });
  const patches = obj({ directory: scalar });
  const bootstrapTokenDiscovery = obj({ token: scalar, apiServerEndpoint: scalar, caCertHashes: strings, unsafeSkipCAVerification: scalar });
  const fileDiscovery = obj({ kubeConfigPath: scalar });
  const joinControlPlane = obj({ localAPIEndpoint: apiEndpoint, certificateKey: scalar });

  // v1beta4: extra arguments are a list of {name, value} (Arg); v1beta3 had string maps.
  const argList = list(obj({ name: scalar, value: scalar }), "a list of {name, value} (v1beta4's form; a map is v1beta3's)");
  // core/v1 EnvVar, inlined in v1beta4 EnvVar; valueFrom (EnvVarSource) is not checked inside.
  const envVars = list(obj({ name: scalar, value: scalar, valueFrom: unchecked }), "a list of {name, value}");
  const timeouts = obj({
    controlPlaneComponentHealthCheck: scalar,
    kubeletHealthCheck: scalar,
    kubernetesAPICall: scalar,
    etcdAPICall: scalar,
    tlsBootstrap: scalar,
    discovery: scalar,
    upgradeManifests: scalar,
  });
  const v4ControlPlaneComponent = { extraArgs: argList, extraVolumes: list(hostPathMount), extraEnvs: envVars };
  const v4NodeRegistration = obj({
    name: scalar,
    criSocket: scalar,
    taints: list(taint),
    kubeletExtraArgs: argList,
    ignorePreflightErrors: strings,
    imagePullPolicy: scalar,
    imagePullSerial: scalar,
  });

  const V1BETA4: Readonly<Record<string, ObjectSchema>> = {
    InitConfiguration: obj({
      ...typeMeta,
      bootstrapTokens: list(bootstrapToken),
      dryRun: scalar,
      nodeRegistration: v4NodeRegistration,
      localAPIEndpoint: apiEndpoint,
      certificateKey: scalar,
      skipPhases: strings,
      patches,
      timeouts,
    }),
    ClusterConfiguration: obj({
      ...typeMeta,
      etcd: obj({
        local: obj({
          ...imageMeta,
          dataDir: scalar,
          extraArgs: argList,
          extraEnvs: envVars,
          serverCertSANs: strings,
          peerCertSANs: strings,
        }),
        external: externalEtcd,
      }),
      networking,
      kubernetesVersion: scalar,
      controlPlaneEndpoint: scalar,
      apiServer: obj({ ...v4ControlPlaneComponent, certSANs: strings }),
      controllerManager: obj(v4ControlPlaneComponent),
      scheduler: obj(v4ControlPlaneComponent),
      dns: obj({ ...imageMeta, disabled: scalar }),
      proxy: obj({ disabled: scalar }),
      certificatesDir: scalar,
      imageRepository: scalar,
      featureGates: map(scalar),
      clusterName: scalar,
      encryptionAlgorithm: scalar,
      certificateValidityPeriod: scalar,
      caCertificateValidityPeriod: scalar,
    }),
    JoinConfiguration: obj({
      ...typeMeta,
      dryRun: scalar,
      nodeRegistration: v4NodeRegistration,
      caCertPath: scalar,
      discovery: obj({ bootstrapToken: bootstrapTokenDiscovery, file: fileDiscovery, tlsBootstrapToken: scalar }),
      controlPlane: joinControlPlane,
      skipPhases: strings,
      patches,
      timeouts,
    }),
    ResetConfiguration: obj({
      ...typeMeta,
      cleanupTmpDir: scalar,
      certificatesDir: scalar,
      criSocket: scalar,
      dryRun: scalar,
      force: scalar,
      ignorePreflightErrors: strings,
      skipPhases: strings,
      unmountFlags: strings,
      timeouts,
    }),
    UpgradeConfiguration: obj({
      ...typeMeta,
      apply: obj({
        kubernetesVersion: scalar,
        allowExperimentalUpgrades: scalar,
        allowRCUpgrades: scalar,
        certificateRenewal: scalar,
        dryRun: scalar,
        etcdUpgrade: scalar,
        forceUpgrade: scalar,
        ignorePreflightErrors: strings,
        patches,
        printConfig: scalar,
        skipPhases: strings,
        // UpgradeApplyConfiguration.SkipPhases has no json tag in v1beta4/types.go at 1329935739c3, so
        // encoding/json names it "SkipPhases"; both spellings are accepted.
        SkipPhases: strings,
      }),
      diff: obj({ kubernetesVersion: scalar, contextLines: scalar }),
      node: obj({
        certificateRenewal: scalar,
        dryRun: scalar,
        etcdUpgrade: scalar,
        ignorePreflightErrors: strings,
        skipPhases: strings,
        patches,
      }),
      plan: obj({
        kubernetesVersion: scalar,
        allowExperimentalUpgrades: scalar,
        allowRCUpgrades: scalar,
        dryRun: scalar,
        ignorePreflightErrors: strings,
        printConfig: scalar,
      }),
      timeouts,
    }),
  };

  const stringMap = map(scalar);
  const v3ControlPlaneComponent = { extraArgs: stringMap, extraVolumes: list(hostPathMount) };
  const v3NodeRegistration = obj({
    name: scalar,
    criSocket: scalar,
    taints: list(taint),
    kubeletExtraArgs: stringMap,
    ignorePreflightErrors: strings,
    imagePullPolicy: scalar,
  });

  const V1BETA3: Readonly<Record<string, ObjectSchema>> = {
    InitConfiguration: obj({
      ...typeMeta,
      bootstrapTokens: list(bootstrapToken),
      nodeRegistration: v3NodeRegistration,
      localAPIEndpoint: apiEndpoint,
      certificateKey: scalar,
      skipPhases: strings,
      patches,
    }),
    ClusterConfiguration: obj({
      ...typeMeta,
      etcd: obj({
        local: obj({ ...imageMeta, dataDir: scalar, extraArgs: stringMap, serverCertSANs: strings, peerCertSANs: strings }),
        external: externalEtcd,
      }),
      networking,
      kubernetesVersion: scalar,
      controlPlaneEndpoint: scalar,
      apiServer: obj({ ...v3ControlPlaneComponent, certSANs: strings, timeoutForControlPlane: scalar }),
      controllerManager: obj(v3ControlPlaneComponent),
      scheduler: obj(v3ControlPlaneComponent),
      dns: obj(imageMeta),
      certificatesDir: scalar,
      imageRepository: scalar,
      featureGates: map(scalar),
      clusterName: scalar,
    }),
    JoinConfiguration: obj({
      ...typeMeta,
      nodeRegistration: v3NodeRegistration,
      caCertPath: scalar,
      discovery: obj({ bootstrapToken: bootstrapTokenDiscovery, file: fileDiscovery, tlsBootstrapToken: scalar, timeout: scalar }),
      controlPlane: joinControlPlane,
      skipPhases: strings,
      patches,
    }),
  };

  return { v1beta4: V1BETA4, v1beta3: V1BETA3 };
}

let schemas: Readonly<Record<KubeadmApiVersion, Readonly<Record<string, ObjectSchema>>>> | undefined;

/** Every kind of each supported kubeadm.k8s.io version, newest version first. */
export const KUBEADM_SCHEMA: Readonly<Record<KubeadmApiVersion, Readonly<Record<string, ObjectSchema>>>> = {
  get v1beta4() {
    return (schemas ??= buildSchemas()).v1beta4;
  },
  get v1beta3() {
    return (schemas ??= buildSchemas()).v1beta3;
  },
};

/** The apiVersions kpki reads, newest first. */
export const KUBEADM_API_VERSIONS: readonly string[] = Object.keys(KUBEADM_SCHEMA).map((v) => `${KUBEADM_GROUP}/${v}`);

/**
 * Where v1beta3 fields went in v1beta4 (v1beta4 conversion: TimeoutForControlPlane and
 * Discovery.Timeout became Timeouts.ControlPlaneComponentHealthCheck and Timeouts.Discovery).
 */
const MOVED_IN_V1BETA4: Readonly<Record<string, string>> = {
  "ClusterConfiguration apiServer.timeoutForControlPlane": "InitConfiguration/JoinConfiguration timeouts.controlPlaneComponentHealthCheck",
  "JoinConfiguration discovery.timeout": "JoinConfiguration timeouts.discovery",
};

/* ---------------------------------------------------------------- lookup helpers */

const isVersion = (v: string): v is KubeadmApiVersion => Object.hasOwn(KUBEADM_SCHEMA, v);
/** `rec[key]` for own keys only: a YAML key such as "constructor" must not reach Object.prototype. */
const own = <T>(rec: Readonly<Record<string, T>>, key: string): T | undefined => (Object.hasOwn(rec, key) ? rec[key] : undefined);

interface FieldLocation {
  readonly kind: string;
  /** Field names from the kind's top level to the object holding the field; "[]" marks a list item. */
  readonly path: readonly string[];
  readonly inList: boolean;
}

/** For each version: field name → every object (of any kind) that has a field of that name. */
function indexFields(kinds: Readonly<Record<string, ObjectSchema>>): ReadonlyMap<string, readonly FieldLocation[]> {
  const index = new Map<string, FieldLocation[]>();
  const visit = (schema: FieldSchema, kind: string, path: readonly string[], inList: boolean): void => {
    if (schema.type === "list") visit(schema.of, kind, [...path, "[]"], true);
    else if (schema.type === "map") visit(schema.values, kind, [...path, "[]"], inList);
    else if (schema.type === "object") {
      for (const [name, child] of Object.entries(schema.fields)) {
        if (name === "apiVersion" || name === "kind") continue;
        const at = index.get(name) ?? [];
        at.push({ kind, path, inList });
        index.set(name, at);
        visit(child, kind, [...path, name], inList);
      }
    }
  };
  for (const [kind, schema] of Object.entries(kinds)) visit(schema, kind, [], false);
  return index;
}

/**
 * The field index of `version`, built on first use: only a file with an unknown field needs it, and
 * building both at start-up cost every command (the CLI loads this module eagerly) over 1 ms.
 */
const fieldIndexes = new Map<KubeadmApiVersion, ReadonlyMap<string, readonly FieldLocation[]>>();
function fieldIndex(version: KubeadmApiVersion): ReadonlyMap<string, readonly FieldLocation[]> {
  let index = fieldIndexes.get(version);
  if (index === undefined) fieldIndexes.set(version, (index = indexFields(KUBEADM_SCHEMA[version])));
  return index;
}

/** The object schema at `path` (list items as "[]") in `kind` of `version`, if there is one. */
function objectAt(version: KubeadmApiVersion, kind: string, path: readonly string[]): ObjectSchema | undefined {
  let cur: FieldSchema | undefined = own(KUBEADM_SCHEMA[version], kind);
  for (const seg of path) {
    if (cur === undefined) return undefined;
    if (seg === "[]") cur = cur.type === "list" ? cur.of : cur.type === "map" ? cur.values : undefined;
    else cur = cur.type === "object" ? own(cur.fields, seg) : undefined;
  }
  return cur?.type === "object" ? cur : undefined;
}

const showPath = (path: readonly string[]): string => path.join(".").replaceAll(".[]", "[]");

/* ---------------------------------------------------------------- the check */

/** One finding; `strict` ones are what kubeadm only warns about (unknown and duplicate fields). */
interface Issue {
  readonly line: number;
  readonly message: string;
  readonly strict: boolean;
}

/** Options for {@link validateKubeadmConfig} and parseKubeadmConfig. */
export interface KubeadmConfigOptions {
  /** Turn unknown, misplaced and duplicated fields into warnings (kubeadm's behaviour) instead of refusals. */
  readonly allowUnknownFields?: boolean | undefined;
  /** Receives each warning as one line: `<source>:<line>: strict decoding error: <message>`. */
  readonly warn?: ((line: string) => void) | undefined;
}

/** One YAML document of a kubeadm config file, as a plain value. */
export interface KubeadmConfigDocument {
  readonly apiVersion: string;
  readonly kind: string;
  /** The document's first line. */
  readonly line: number;
  /** True for kubeadm.k8s.io documents, which were checked field by field. */
  readonly checked: boolean;
  readonly value: Readonly<Record<string, unknown>>;
}

type YamlModule = typeof import("yaml");

interface Walk {
  readonly Y: YamlModule;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly version: KubeadmApiVersion;
  readonly kind: string;
  readonly issues: Issue[];
  readonly active: Set<YamlNode>;
}

const lineOf = (lines: LineCounter, node: YamlNode | null | undefined): number => {
  const start = node?.range?.[0];
  return start === undefined ? 1 : lines.linePos(start).line;
};

const shapeName = (w: Walk, node: YamlNode): string =>
  w.Y.isMap(node) ? "a mapping" : w.Y.isSeq(node) ? "a list" : "a single value";

function where(kind: string, path: readonly string[]): string {
  return path.length === 0 ? kind : `${kind}.${path.join(".").replaceAll(".[", "[")}`;
}

/** Why `key` is not a field of the object at `path` (list indices as "[i]"), as one message. */
function explainUnknown(w: Walk, key: string, path: readonly string[], here: ObjectSchema): string {
  const at = where(w.kind, path);
  const shape = path.map((s) => (s.startsWith("[") ? "[]" : s));
  const other: KubeadmApiVersion = w.version === "v1beta4" ? "v1beta3" : "v1beta4";
  const there = objectAt(other, w.kind, shape);
  if (there && own(there.fields, key) !== undefined) {
    if (w.version === "v1beta3") return `unknown field "${key}" in ${at}: it is new in ${KUBEADM_GROUP}/v1beta4 (this document is ${KUBEADM_GROUP}/v1beta3)`;
    const moved = own(MOVED_IN_V1BETA4, `${w.kind} ${[...shape, key].join(".")}`);
    return `unknown field "${key}" in ${at}: it is a ${KUBEADM_GROUP}/v1beta3 field, removed in v1beta4${moved ? ` (use ${moved})` : ""}`;
  }
  const places = fieldIndex(w.version).get(key);
  if (places && places.length > 0) {
    const rank = (p: FieldLocation): [number, number, number] => [p.inList ? 1 : 0, p.kind === w.kind ? 0 : 1, p.path.length];
    const best = [...places].sort((a, b) => {
      const [x, y] = [rank(a), rank(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    })[0] as FieldLocation;
    const shown = showPath(best.path);
    const hereText = shape.length === 0 ? "" : ` under ${showPath(shape)}`;
    if (best.kind !== w.kind) {
      return `field "${key}" belongs in ${best.kind}${shown ? ` under ${shown}` : ""}, not ${w.kind}${hereText}`;
    }
    const target = shown ? `under ${shown} in ${w.kind}` : `at the top level of ${w.kind}`;
    return `field "${key}" belongs ${target}, not ${hereText ? hereText.trimStart() : "at the top level"}`;
  }
  const near = closestName(key, Object.keys(here.fields));
  return `unknown field "${key}" in ${at}${near ? ` (did you mean "${near}"?)` : ""}`;
}

function walk(w: Walk, raw: unknown, schema: FieldSchema, path: readonly string[]): void {
  const { Y } = w;
  let node = raw as YamlNode | null | undefined;
  if (node && Y.isAlias(node)) node = node.resolve(w.doc) as YamlNode | undefined;
  if (!node || schema.type === "unchecked" || w.active.has(node)) return;
  if (Y.isScalar(node) && node.value === null) return; // `field:` or `field: null` is always allowed
  const badShape = (expected: string, hint?: string): void => {
    w.issues.push({
      line: lineOf(w.lines, node),
      message: `${where(w.kind, path)} must be ${hint ?? expected}, not ${shapeName(w, node)}`,
      strict: false,
    });
  };
  w.active.add(node);
  try {
    if (schema.type === "scalar") {
      if (!Y.isScalar(node)) badShape("a single value");
    } else if (schema.type === "list") {
      if (!Y.isSeq(node)) return badShape("a list", schema.hint);
      node.items.forEach((item, i) => walk(w, item, schema.of, [...path, `[${i}]`]));
    } else {
      if (!Y.isMap(node)) return badShape("a mapping");
      walkPairs(w, node.items, schema, path, new Map());
    }
  } finally {
    w.active.delete(node);
  }
}

function walkPairs(
  w: Walk,
  pairs: readonly { key: unknown; value: unknown }[],
  schema: ObjectSchema | { readonly type: "map"; readonly values: FieldSchema },
  path: readonly string[],
  seen: Map<string, number>,
): void {
  const { Y } = w;
  for (const pair of pairs) {
    const keyNode = pair.key as YamlNode | null;
    const line = lineOf(w.lines, keyNode);
    const raw = keyNode && Y.isScalar(keyNode) ? keyNode.value : undefined;
    // With `merge: true` the yaml package gives a `<<` key the value Symbol(<<).
    const key = typeof raw === "symbol" ? (raw.description ?? "<<") : raw === undefined ? undefined : String(raw);
    if (key === undefined) {
      w.issues.push({ line, message: `a key in ${where(w.kind, path)} is not a plain name`, strict: false });
      continue;
    }
    if (key === "<<") {
      // A YAML merge key (parsed with `merge: true`): its mapping's fields count as this mapping's.
      let merged = pair.value as YamlNode | null;
      if (merged && Y.isAlias(merged)) merged = merged.resolve(w.doc) as YamlNode | null;
      const sources = merged && Y.isSeq(merged) ? merged.items : [merged];
      for (let src of sources as (YamlNode | null)[]) {
        if (src && Y.isAlias(src)) src = src.resolve(w.doc) as YamlNode | null;
        if (src && Y.isMap(src)) walkPairs(w, src.items, schema, path, new Map());
      }
      continue;
    }
    const first = seen.get(key);
    if (first !== undefined) {
      w.issues.push({ line, message: `duplicate field "${key}" in ${where(w.kind, path)} (first at line ${first})`, strict: true });
    } else {
      seen.set(key, line);
    }
    const child = schema.type === "map" ? schema.values : own(schema.fields, key);
    if (child === undefined && schema.type === "object") {
      w.issues.push({ line, message: explainUnknown(w, key, path, schema), strict: true });
      continue;
    }
    if (child) walk(w, pair.value, child, [...path, key]);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Parses a kubeadm config file (multi-document YAML) and checks every kubeadm.k8s.io document
 * against the field tree of its kind: unknown, misplaced or duplicated fields are refused (with
 * `allowUnknownFields`, passed to `warn` as kubeadm's strict-decoding warnings), as are values of the
 * wrong shape, unknown kubeadm apiVersions or kinds, documents that are not mappings or lack
 * apiVersion/kind, and a kind given twice. Other groups' documents are returned unchecked.
 * Each refusal is a PkiError("invalid-input") of one line, `<source>:<line>: <message>`.
 */
export async function validateKubeadmConfig(
  text: string,
  source = "config",
  options: KubeadmConfigOptions = {},
): Promise<readonly KubeadmConfigDocument[]> {
  const Y = await import("yaml"); // on first use: keeps `kpki init` start-up fast
  const lines = new Y.LineCounter();
  // uniqueKeys: false, so duplicates are reported here with both lines (and the last one wins, as in
  // kubeadm's non-strict decoding); merge: true, as Go's YAML 1.1 decoder honours `<<`.
  const docs = Y.parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false, merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: KubeadmConfigDocument[] = [];
  const kinds = new Map<string, number>();
  const fail = (line: number, message: string) => invalidInput(`${source}:${line}: ${message}`);
  for (const doc of list) {
    if (doc.errors.length) {
      throw invalidInput(`${source} is not valid YAML: ${doc.errors[0]?.message.split("\n")[0] ?? "parse error"}`);
    }
    const contents = doc.contents as YamlNode | null;
    const docLine = lines.linePos(contents?.range?.[0] ?? doc.range[0]).line;
    if (!contents || (Y.isScalar(contents) && contents.value === null)) continue; // an empty document
    if (!Y.isMap(contents)) {
      throw fail(docLine, `each YAML document must be a mapping, not ${Y.isSeq(contents) ? "a list" : "a single value"}`);
    }
    const top = (name: string): { value: unknown; line: number } | undefined => {
      const pair = contents.items.find((p) => Y.isScalar(p.key) && p.key.value === name);
      if (!pair) return undefined;
      const v = pair.value as YamlNode | null;
      return { value: v && Y.isScalar(v) ? v.value : undefined, line: lineOf(lines, v ?? (pair.key as YamlNode)) };
    };
    const apiVersion = top("apiVersion");
    const kind = top("kind");
    if (typeof apiVersion?.value !== "string" || typeof kind?.value !== "string" || !apiVersion.value || !kind.value) {
      throw fail(docLine, 'a document is missing "apiVersion" or "kind"');
    }
    const kindName = kind.value;
    // kubeadm: "invalid configuration: kind %q is specified twice in YAML file" (util/config/common.go).
    const firstKind = kinds.get(kindName);
    if (firstKind !== undefined) throw fail(kind.line, `kind "${kindName}" is specified twice in the file (first at line ${firstKind})`);
    kinds.set(kindName, kind.line);

    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (error) {
      throw invalidInput(`${source} is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
    }
    if (!isObj(value)) throw fail(docLine, "each YAML document must be a mapping");
    const slash = apiVersion.value.lastIndexOf("/");
    const group = slash < 0 ? "" : apiVersion.value.slice(0, slash);
    if (group !== KUBEADM_GROUP) {
      out.push({ apiVersion: apiVersion.value, kind: kindName, line: docLine, checked: false, value });
      continue;
    }
    const version = apiVersion.value.slice(slash + 1);
    if (!isVersion(version)) {
      throw fail(apiVersion.line, `${kindName} has unsupported apiVersion "${apiVersion.value}" (kpki reads ${KUBEADM_API_VERSIONS.join(", ")})`);
    }
    const schema = own(KUBEADM_SCHEMA[version], kindName);
    if (!schema) {
      const known = Object.keys(KUBEADM_SCHEMA[version]);
      const elsewhere = (Object.keys(KUBEADM_SCHEMA) as KubeadmApiVersion[]).find((v) => own(KUBEADM_SCHEMA[v], kindName));
      const near = elsewhere ? undefined : (closestName(kindName, known) ?? known.find((k) => k.startsWith(kindName)));
      const why = elsewhere ? ` (it is in ${KUBEADM_GROUP}/${elsewhere})` : near ? ` (did you mean "${near}"?)` : "";
      throw fail(kind.line, `unknown kind "${kindName}" in ${apiVersion.value}${why}; its kinds are ${known.join(", ")}`);
    }
    const w: Walk = { Y, doc, lines, version, kind: kindName, issues: [], active: new Set() };
    walk(w, contents, schema, []);
    for (const issue of w.issues) {
      if (!issue.strict || !options.allowUnknownFields) throw fail(issue.line, issue.message);
      // kubeadm's wording for these: "error unmarshaling configuration ...: strict decoding error: unknown field ..."
      options.warn?.(`${source}:${issue.line}: strict decoding error: ${issue.message}`);
    }
    out.push({ apiVersion: apiVersion.value, kind: kindName, line: docLine, checked: true, value });
  }
  return out;
}
