import { describe, expect, it } from "vitest";
import { parseKubeadmConfig } from "../../src/kubeadm/config.js";
import { initDefaultsYaml } from "../../src/kubeadm/config-defaults.js";
import { closestName, editDistance, KUBEADM_SCHEMA, validateKubeadmConfig } from "../../src/kubeadm/config-schema.js";

const V4 = "apiVersion: kubeadm.k8s.io/v1beta4";
const V3 = "apiVersion: kubeadm.k8s.io/v1beta3";
const lines = (...l: string[]): string => `${l.join("\n")}\n`;

/** Parses strictly, then with allowUnknownFields; returns the refusal and the warnings. */
async function both(text: string): Promise<{ refusal: string | undefined; warnings: string[]; lenient: string | undefined }> {
  let refusal: string | undefined;
  try {
    await parseKubeadmConfig(text, "kubeadm.yaml");
  } catch (error) {
    expect(error).toMatchObject({ name: "PkiError", code: "invalid-input" });
    refusal = (error as Error).message;
  }
  const warnings: string[] = [];
  let lenient: string | undefined;
  try {
    await parseKubeadmConfig(text, "kubeadm.yaml", { allowUnknownFields: true, warn: (line) => warnings.push(line) });
  } catch (error) {
    lenient = (error as Error).message;
  }
  return { refusal, warnings, lenient };
}

describe("kubeadm config fields: unknown and misplaced fields are refused with file, line and a hint", () => {
  it.each([
    [
      "a misspelt certificatesDir (issue 11)",
      lines(V4, "kind: ClusterConfiguration", "clusterName: prod", "networking:", "  serviceSubnet: 10.96.0.0/12", "certificateDir: /srv/pki"),
      'kubeadm.yaml:6: unknown field "certificateDir" in ClusterConfiguration (did you mean "certificatesDir"?)',
    ],
    [
      "a field of ClusterConfiguration in InitConfiguration",
      lines(V4, "kind: InitConfiguration", "nodeRegistration:", "  name: cp-1", "certificatesDir: /srv/pki"),
      'kubeadm.yaml:5: field "certificatesDir" belongs in ClusterConfiguration, not InitConfiguration',
    ],
    [
      "a nested field at the top level",
      lines(V4, "kind: ClusterConfiguration", "serviceSubnet: 10.200.0.0/16"),
      'kubeadm.yaml:3: field "serviceSubnet" belongs under networking in ClusterConfiguration, not at the top level',
    ],
    [
      "a top-level field nested",
      lines(V4, "kind: ClusterConfiguration", "networking:", "  certificatesDir: /srv/pki"),
      'kubeadm.yaml:4: field "certificatesDir" belongs at the top level of ClusterConfiguration, not under networking',
    ],
    [
      "an InitConfiguration field nested elsewhere, in ClusterConfiguration",
      lines(V4, "kind: ClusterConfiguration", "advertiseAddress: 10.0.0.5"),
      'kubeadm.yaml:3: field "advertiseAddress" belongs in InitConfiguration under localAPIEndpoint, not ClusterConfiguration',
    ],
    [
      "a nested misspelling (etcd.local.serverCertSans)",
      lines(V4, "kind: ClusterConfiguration", "etcd:", "  local:", "    serverCertSans: [etcd.example.com]"),
      'kubeadm.yaml:5: unknown field "serverCertSans" in ClusterConfiguration.etcd.local (did you mean "serverCertSANs"?)',
    ],
    [
      "a misspelling inside a list item",
      lines(V4, "kind: InitConfiguration", "bootstrapTokens:", "- token: abcdef.0123456789abcdef", "  tll: 24h"),
      'kubeadm.yaml:5: unknown field "tll" in InitConfiguration.bootstrapTokens[0] (did you mean "ttl"?)',
    ],
    [
      "a field name in the wrong case (kubeadm decodes case-sensitively)",
      lines(V4, "kind: ClusterConfiguration", "ControlPlaneEndpoint: api.example.com"),
      'kubeadm.yaml:3: unknown field "ControlPlaneEndpoint" in ClusterConfiguration (did you mean "controlPlaneEndpoint"?)',
    ],
    [
      "a name far from every field: no suggestion",
      lines(V4, "kind: ClusterConfiguration", "loadBalancer: yes"),
      'kubeadm.yaml:3: unknown field "loadBalancer" in ClusterConfiguration',
    ],
    [
      "a misspelling brought in by a YAML merge key",
      lines(V4, "kind: ClusterConfiguration", "etcd:", "  local:", "    <<: {dataDri: /var/lib/etcd}"),
      'kubeadm.yaml:5: unknown field "dataDri" in ClusterConfiguration.etcd.local (did you mean "dataDir"?)',
    ],
    [
      "a key that is an Object.prototype member",
      lines(V4, "kind: ClusterConfiguration", "constructor: x"),
      'kubeadm.yaml:3: unknown field "constructor" in ClusterConfiguration',
    ],
    [
      "encryptionAlgorithm in v1beta3",
      lines(V3, "kind: ClusterConfiguration", "encryptionAlgorithm: ECDSA-P256"),
      'kubeadm.yaml:3: unknown field "encryptionAlgorithm" in ClusterConfiguration: it is new in kubeadm.k8s.io/v1beta4 (this document is kubeadm.k8s.io/v1beta3)',
    ],
    [
      "certificateValidityPeriod in v1beta3",
      lines(V3, "kind: ClusterConfiguration", "certificateValidityPeriod: 2160h"),
      'kubeadm.yaml:3: unknown field "certificateValidityPeriod" in ClusterConfiguration: it is new in kubeadm.k8s.io/v1beta4 (this document is kubeadm.k8s.io/v1beta3)',
    ],
    [
      "v1beta3's apiServer.timeoutForControlPlane in v1beta4",
      lines(V4, "kind: ClusterConfiguration", "apiServer:", "  timeoutForControlPlane: 4m0s"),
      'kubeadm.yaml:4: unknown field "timeoutForControlPlane" in ClusterConfiguration.apiServer: it is a kubeadm.k8s.io/v1beta3 field, removed in v1beta4 (use InitConfiguration/JoinConfiguration timeouts.controlPlaneComponentHealthCheck)',
    ],
    [
      "a duplicated key",
      lines(V4, "kind: ClusterConfiguration", "clusterName: a", "networking:", "  dnsDomain: x.example", "clusterName: b"),
      'kubeadm.yaml:6: duplicate field "clusterName" in ClusterConfiguration (first at line 3)',
    ],
    [
      "a duplicated feature gate",
      lines(V3, "kind: ClusterConfiguration", "featureGates:", "  PublicKeysECDSA: true", "  PublicKeysECDSA: false"),
      'kubeadm.yaml:5: duplicate field "PublicKeysECDSA" in ClusterConfiguration.featureGates (first at line 4)',
    ],
    [
      "an unknown field in the second document",
      lines(V4, "kind: InitConfiguration", "---", V4, "kind: ClusterConfiguration", "clusterNmae: prod"),
      'kubeadm.yaml:6: unknown field "clusterNmae" in ClusterConfiguration (did you mean "clusterName"?)',
    ],
  ])("%s", async (_name, text, message) => {
    const { refusal, warnings, lenient } = await both(text);
    expect(refusal).toBe(message);
    // --allow-unknown-fields: the same line as a warning, worded as kubeadm's strict decoding, and parsing goes on.
    expect(lenient).toBeUndefined();
    expect(warnings).toEqual([message.replace(/^(kubeadm\.yaml:\d+): /, "$1: strict decoding error: ")]);
  });

  it("with allowUnknownFields the rest of the file is still read (a duplicate: the last value wins, as in kubeadm)", async () => {
    const warnings: string[] = [];
    const docs = await parseKubeadmConfig(
      lines(V4, "kind: ClusterConfiguration", "clusterName: a", "certificateDir: /x", "clusterName: b"),
      "kubeadm.yaml",
      { allowUnknownFields: true, warn: (l) => warnings.push(l) },
    );
    expect(docs.cluster?.["clusterName"]).toBe("b");
    expect(warnings).toHaveLength(2);
  });

  it("with allowUnknownFields and no warn callback, nothing is thrown", async () => {
    await expect(parseKubeadmConfig(lines(V4, "kind: ClusterConfiguration", "certificateDir: /x"), "k", { allowUnknownFields: true })).resolves.toBeDefined();
  });
});

describe("kubeadm config: refusals that allowUnknownFields does not downgrade", () => {
  it.each([
    [
      "v1beta4 extraArgs written as v1beta3's map",
      lines(V4, "kind: ClusterConfiguration", "apiServer:", "  extraArgs:", "    authorization-mode: Node,RBAC"),
      "kubeadm.yaml:5: ClusterConfiguration.apiServer.extraArgs must be a list of {name, value} (v1beta4's form; a map is v1beta3's), not a mapping",
    ],
    [
      "a list where a mapping belongs",
      lines(V4, "kind: ClusterConfiguration", "networking:", "- serviceSubnet: 10.96.0.0/12"),
      "kubeadm.yaml:4: ClusterConfiguration.networking must be a mapping, not a list",
    ],
    [
      "a mapping where a list of strings belongs",
      lines(V4, "kind: ClusterConfiguration", "apiServer:", "  certSANs:", "    a: b"),
      "kubeadm.yaml:5: ClusterConfiguration.apiServer.certSANs must be a list of strings, not a mapping",
    ],
    ["an old kubeadm apiVersion", lines("apiVersion: kubeadm.k8s.io/v1beta2", "kind: ClusterConfiguration"), 'kubeadm.yaml:1: ClusterConfiguration has unsupported apiVersion "kubeadm.k8s.io/v1beta2" (kpki reads kubeadm.k8s.io/v1beta4, kubeadm.k8s.io/v1beta3)'],
    [
      "an unknown kubeadm kind",
      lines(V4, "kind: ClusterConfig"),
      'kubeadm.yaml:2: unknown kind "ClusterConfig" in kubeadm.k8s.io/v1beta4 (did you mean "ClusterConfiguration"?); its kinds are InitConfiguration, ClusterConfiguration, JoinConfiguration, ResetConfiguration, UpgradeConfiguration',
    ],
    [
      "a v1beta4-only kind in v1beta3",
      lines(V3, "kind: ResetConfiguration"),
      'kubeadm.yaml:2: unknown kind "ResetConfiguration" in kubeadm.k8s.io/v1beta3 (it is in kubeadm.k8s.io/v1beta4); its kinds are InitConfiguration, ClusterConfiguration, JoinConfiguration',
    ],
    ["a document that is a list", lines(V4, "kind: ClusterConfiguration", "---", "- a", "- b"), "kubeadm.yaml:4: each YAML document must be a mapping, not a list"],
    ["a document that is a string", lines("just text"), "kubeadm.yaml:1: each YAML document must be a mapping, not a single value"],
    ["a document without kind", lines(V4, "clusterName: x"), 'kubeadm.yaml:1: a document is missing "apiVersion" or "kind"'],
    [
      "a kind given twice",
      lines(V4, "kind: ClusterConfiguration", "---", V3, "kind: ClusterConfiguration"),
      'kubeadm.yaml:5: kind "ClusterConfiguration" is specified twice in the file (first at line 2)',
    ],
  ])("%s", async (_name, text, message) => {
    const { refusal, warnings, lenient } = await both(text);
    expect(refusal).toBe(message);
    expect(lenient).toBe(message);
    expect(warnings).toEqual([]);
  });

  it("YAML syntax errors keep their message", async () => {
    await expect(parseKubeadmConfig("kind: [unclosed\n", "bad.yaml")).rejects.toThrow(/^bad\.yaml is not valid YAML: /);
  });
});

describe("kubeadm config: what is accepted", () => {
  it.each([
    ["feature gates: any name", lines(V4, "kind: ClusterConfiguration", "featureGates:", "  SomeFutureGate: true", "  PublicKeysECDSA: false")],
    ["v1beta3 extraArgs and kubeletExtraArgs: free-form maps", lines(V3, "kind: InitConfiguration", "nodeRegistration:", "  kubeletExtraArgs:", "    node-ip: 10.0.0.5", "---", V3, "kind: ClusterConfiguration", "apiServer:", "  extraArgs:", "    anything-at-all: x", "etcd:", "  local:", "    extraArgs:", "      listen-metrics-urls: http://0.0.0.0:2381")],
    ["v1beta4 extra args, envs (valueFrom unchecked) and volumes", lines(V4, "kind: ClusterConfiguration", "controllerManager:", "  extraArgs:", "  - name: bind-address", "    value: 0.0.0.0", "  extraEnvs:", "  - name: A", "    valueFrom:", "      secretKeyRef: {name: s, key: k}", "  extraVolumes:", "  - {name: v, hostPath: /a, mountPath: /b, readOnly: true, pathType: DirectoryOrCreate}")],
    ["taints with every core/v1 Taint field", lines(V4, "kind: InitConfiguration", "nodeRegistration:", "  taints:", "  - {key: k, value: v, effect: NoSchedule, timeAdded: null}")],
    ["null and empty values", lines(V4, "kind: InitConfiguration", "nodeRegistration:", "  taints: null", "patches:", "timeouts: {}", "---", V4, "kind: ClusterConfiguration", "apiServer: {}", "etcd:")],
    ["KubeletConfiguration and KubeProxyConfiguration are not checked field by field", lines(V4, "kind: ClusterConfiguration", "---", "apiVersion: kubelet.config.k8s.io/v1beta1", "kind: KubeletConfiguration", "cgroupDriver: systemd", "notAKubeletField: 1", "---", "apiVersion: kubeproxy.config.k8s.io/v1alpha1", "kind: KubeProxyConfiguration", "mode: ipvs")],
    ["a YAML merge key", lines(V4, "kind: ClusterConfiguration", "networking: &net", "  dnsDomain: a.example", "etcd:", "  local:", "    <<: {dataDir: /var/lib/etcd}", "    serverCertSANs: [x]")],
    ["UpgradeApplyConfiguration.SkipPhases has no json tag upstream: both spellings", lines(V4, "kind: UpgradeConfiguration", "apply:", "  skipPhases: [a]", "  SkipPhases: [b]", "---", V4, "kind: ClusterConfiguration")],
    ["an empty document between others", lines("---", "# nothing", "---", V4, "kind: ClusterConfiguration", "---")],
  ])("%s", async (_name, text) => {
    const warnings: string[] = [];
    await expect(parseKubeadmConfig(text, "kubeadm.yaml", { warn: (l) => warnings.push(l) })).resolves.toBeDefined();
    expect(warnings).toEqual([]);
  });

  it("JoinConfiguration, ResetConfiguration and UpgradeConfiguration are checked too", async () => {
    const ok = lines(
      V4, "kind: JoinConfiguration", "discovery:", "  bootstrapToken:", "    apiServerEndpoint: 10.0.0.5:6443", "    token: abcdef.0123456789abcdef", "    caCertHashes: [sha256:00]", "  tlsBootstrapToken: abcdef.0123456789abcdef", "controlPlane:", "  localAPIEndpoint: {advertiseAddress: 10.0.0.6}", "  certificateKey: aa",
      "---", V4, "kind: ResetConfiguration", "certificatesDir: /etc/kubernetes/pki", "unmountFlags: [MNT_DETACH]", "force: true",
      "---", V4, "kind: UpgradeConfiguration", "apply: {certificateRenewal: true, etcdUpgrade: false}", "node: {certificateRenewal: false}", "diff: {contextLines: 3}", "plan: {printConfig: true}", "timeouts: {upgradeManifests: 5m}",
    );
    const docs = await validateKubeadmConfig(ok, "join.yaml");
    expect(docs.map((d) => [d.kind, d.line, d.checked])).toEqual([
      ["JoinConfiguration", 1, true],
      ["ResetConfiguration", 13, true],
      ["UpgradeConfiguration", 19, true],
    ]);
    await expect(validateKubeadmConfig(lines(V4, "kind: JoinConfiguration", "discovery:", "  bootstrapToken:", "    unsafeSkipCaVerification: true"), "join.yaml")).rejects.toThrow(
      'join.yaml:5: unknown field "unsafeSkipCaVerification" in JoinConfiguration.discovery.bootstrapToken (did you mean "unsafeSkipCAVerification"?)',
    );
    await expect(validateKubeadmConfig(lines(V3, "kind: JoinConfiguration", "discovery:", "  timeout: 5m"), "join.yaml")).resolves.toHaveLength(1);
    await expect(validateKubeadmConfig(lines(V4, "kind: JoinConfiguration", "discovery:", "  timeout: 5m"), "join.yaml")).rejects.toThrow(
      'join.yaml:4: unknown field "timeout" in JoinConfiguration.discovery: it is a kubeadm.k8s.io/v1beta3 field, removed in v1beta4 (use JoinConfiguration timeouts.discovery)',
    );
    // parseKubeadmConfig still wants an InitConfiguration or a ClusterConfiguration.
    await expect(parseKubeadmConfig(ok, "join.yaml")).rejects.toThrow("join.yaml has no InitConfiguration or ClusterConfiguration document");
  });

  it("the kinds of each version are kubeadm's", () => {
    expect(Object.keys(KUBEADM_SCHEMA.v1beta4)).toEqual(["InitConfiguration", "ClusterConfiguration", "JoinConfiguration", "ResetConfiguration", "UpgradeConfiguration"]);
    expect(Object.keys(KUBEADM_SCHEMA.v1beta3)).toEqual(["InitConfiguration", "ClusterConfiguration", "JoinConfiguration"]);
  });
});

describe("kubeadm config: real files validate cleanly", () => {
  it("kpki config print init-defaults (kubeadm v1beta4 defaults) parses with no warning", async () => {
    const text = initDefaultsYaml();
    expect(text.split("\n---\n")).toHaveLength(2);
    expect(text.startsWith("apiVersion: kubeadm.k8s.io/v1beta4\nbootstrapTokens:\n- groups:\n")).toBe(true);
    expect(text.endsWith("proxy: {}\nscheduler: {}\n")).toBe(true);
    expect(initDefaultsYaml("1.33.0")).toContain("\nkubernetesVersion: 1.33.0\n");
    const warnings: string[] = [];
    const { init, cluster } = await parseKubeadmConfig(text, "defaults.yaml", { warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(init?.["localAPIEndpoint"]).toEqual({ advertiseAddress: "1.2.3.4", bindPort: 6443 });
    expect(cluster?.["certificatesDir"]).toBe("/etc/kubernetes/pki");
    expect(cluster?.["encryptionAlgorithm"]).toBe("RSA-2048");
  });

  // The "fully populated example" of kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta4/doc.go.
  const upstreamV1beta4 = `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: "9a08jv.c0izixklcxtmnze7"
  description: "kubeadm bootstrap token"
  ttl: "24h"
- token: "783bde.3f89s0fje9f38fhf"
  description: "another bootstrap token"
  usages:
  - authentication
  - signing
  groups:
  - system:bootstrappers:kubeadm:default-node-token
nodeRegistration:
  name: "ec2-10-100-0-1"
  criSocket: "unix:///var/run/containerd/containerd.sock"
  taints:
  - key: "kubeadmNode"
    value: "someValue"
    effect: "NoSchedule"
  kubeletExtraArgs:
  - name: "v"
    value: "5"
  ignorePreflightErrors:
  - IsPrivilegedUser
  imagePullPolicy: "IfNotPresent"
  imagePullSerial: true
localAPIEndpoint:
  advertiseAddress: "10.100.0.1"
  bindPort: 6443
certificateKey: "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"
skipPhases:
- preflight
timeouts:
  controlPlaneComponentHealthCheck: "60s"
  kubernetesAPICall: "40s"
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
etcd:
  # one of local or external
  local:
    imageRepository: "registry.k8s.io"
    imageTag: "3.2.24"
    dataDir: "/var/lib/etcd"
    extraArgs:
    - name: "listen-client-urls"
      value: "http://10.100.0.1:2379"
    extraEnvs:
    - name: "SOME_VAR"
      value: "SOME_VALUE"
    serverCertSANs:
    - "ec2-10-100-0-1.compute-1.amazonaws.com"
    peerCertSANs:
    - "10.100.0.1"
  # external:
    # endpoints:
    # - "10.100.0.1:2379"
    # - "10.100.0.2:2379"
    # caFile: "/etcd/kubernetes/pki/etcd/etcd-ca.crt"
    # certFile: "/etcd/kubernetes/pki/etcd/etcd.crt"
    # keyFile: "/etcd/kubernetes/pki/etcd/etcd.key"
networking:
  serviceSubnet: "10.96.0.0/16"
  podSubnet: "10.244.0.0/24"
  dnsDomain: "cluster.local"
kubernetesVersion: "v1.21.0"
controlPlaneEndpoint: "10.100.0.1:6443"
apiServer:
  extraArgs:
  - name: "authorization-mode"
    value: "Node,RBAC"
  extraEnvs:
  - name: "SOME_VAR"
    value: "SOME_VALUE"
  extraVolumes:
  - name: "some-volume"
    hostPath: "/etc/some-path"
    mountPath: "/etc/some-pod-path"
    readOnly: false
    pathType: File
  certSANs:
  - "10.100.1.1"
  - "ec2-10-100-0-1.compute-1.amazonaws.com"
controllerManager:
  extraArgs:
  - name: "node-cidr-mask-size"
    value: "20"
  extraVolumes:
  - name: "some-volume"
    hostPath: "/etc/some-path"
    mountPath: "/etc/some-pod-path"
    readOnly: false
    pathType: File
scheduler:
  extraArgs:
  - name: "address"
    value: "10.100.0.1"
  extraVolumes:
  - name: "some-volume"
    hostPath: "/etc/some-path"
    mountPath: "/etc/some-pod-path"
    readOnly: false
    pathType: File
certificatesDir: "/etc/kubernetes/pki"
imageRepository: "registry.k8s.io"
clusterName: "example-cluster"
encryptionAlgorithm: "ECDSA-P256"
dns:
  disabled: true # disable CoreDNS
proxy:
  disabled: true # disable kube-proxy
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# kubelet specific options here
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
# kube-proxy specific options here
`;

  // The same example in kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta3/doc.go (its
  // differences: string maps for extra args, apiServer.timeoutForControlPlane, no v1beta4 fields).
  const upstreamV1beta3 = upstreamV1beta4
    .replaceAll("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3")
    .replace('  kubeletExtraArgs:\n  - name: "v"\n    value: "5"\n', "  kubeletExtraArgs:\n    v: 4\n")
    .replace("  imagePullSerial: true\n", "")
    .replace("skipPhases:\n- preflight\ntimeouts:\n  controlPlaneComponentHealthCheck: \"60s\"\n  kubernetesAPICall: \"40s\"\n", "skipPhases:\n- addon/kube-proxy\n")
    .replace('    extraArgs:\n    - name: "listen-client-urls"\n      value: "http://10.100.0.1:2379"\n    extraEnvs:\n    - name: "SOME_VAR"\n      value: "SOME_VALUE"\n', '    extraArgs:\n      listen-client-urls: "http://10.100.0.1:2379"\n')
    .replace('  extraArgs:\n  - name: "authorization-mode"\n    value: "Node,RBAC"\n  extraEnvs:\n  - name: "SOME_VAR"\n    value: "SOME_VALUE"\n', '  extraArgs:\n    authorization-mode: "Node,RBAC"\n')
    .replace('  - "ec2-10-100-0-1.compute-1.amazonaws.com"\ncontrollerManager:', '  - "ec2-10-100-0-1.compute-1.amazonaws.com"\n  timeoutForControlPlane: 4m0s\ncontrollerManager:')
    .replace('  extraArgs:\n  - name: "node-cidr-mask-size"\n    value: "20"\n', '  extraArgs:\n    "node-cidr-mask-size": "20"\n')
    .replace('  extraArgs:\n  - name: "address"\n    value: "10.100.0.1"\n', '  extraArgs:\n    address: "10.100.0.1"\n')
    .replace('encryptionAlgorithm: "ECDSA-P256"\ndns:\n  disabled: true # disable CoreDNS\nproxy:\n  disabled: true # disable kube-proxy\n', "");

  it.each([
    ["v1beta4", upstreamV1beta4],
    ["v1beta3", upstreamV1beta3],
  ])("kubeadm's fully populated %s example", async (version, text) => {
    expect(text).toContain(`kubeadm.k8s.io/${version}`);
    if (version === "v1beta3") expect(text).not.toMatch(/extraEnvs|- name: "v"|encryptionAlgorithm|timeouts:|imagePullSerial/);
    const warnings: string[] = [];
    const { init, cluster } = await parseKubeadmConfig(text, "example.yaml", { warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(init?.["kind"]).toBe("InitConfiguration");
    expect(cluster?.["clusterName"]).toBe("example-cluster");
    // And across versions: the v1beta4 example is refused as v1beta3 and the other way round.
    const swapped = version === "v1beta4" ? text.replaceAll("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3") : text.replaceAll("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4");
    await expect(parseKubeadmConfig(swapped, "example.yaml")).rejects.toThrow(/^example\.yaml:\d+: /);
  });
});

describe("closest names", () => {
  it.each([
    ["certificateDir", "certificatesDir", 1],
    ["serverCertSans", "serverCertSANs", 2],
    ["clsuterName", "clusterName", 1], // a transposition counts once
    ["", "abc", 3],
  ])("editDistance(%j, %j) = %i", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  it("suggests only close names, preferring the case-insensitive match on a tie", () => {
    expect(closestName("certificateDir", ["certificatesDir", "clusterName"])).toBe("certificatesDir");
    expect(closestName("Dns", ["Dis", "dns"])).toBe("dns"); // both at distance 1; "dns" differs only in case
    expect(closestName("Dns", ["dns", "Dis"])).toBe("dns");
    expect(closestName("loadBalancer", ["clusterName", "networking"])).toBeUndefined();
  });
});
