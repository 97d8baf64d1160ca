import { describe, expect, it } from "vitest";
import { runInit, allCertPhases, allKubeconfigPhases } from "../../src/kubeadm/init.js";
import { resolveClusterConfig, type ConfigFlags } from "../../src/kubeadm/config.js";
import { kubeadmExpiration } from "../../src/expiry/kubeadm-inventory.js";
import { renderKubeadmJson, renderKubeadmText, renderKubeadmYaml } from "../../src/expiry/kubeadm-report.js";
import { memoryStore } from "../helpers/memory-store.js";
import { crypto } from "../helpers/clock.js";

// A real kubeadm sample, made on 2025-08-19 09:03 UTC (leaves Aug 19 2026, CAs Aug 17 2035)
// and shows 360d / 9y: the report ran about four and a half days later.
const MADE = new Date(Date.UTC(2025, 7, 19, 9, 3, 12));
const NOW = new Date(MADE.getTime() + 4.5 * 86_400_000);

async function pki(flags: ConfigFlags = {}, clusterDoc?: Record<string, unknown>) {
  const cfg = resolveClusterConfig(clusterDoc ? { init: undefined, cluster: clusterDoc } : undefined,
    { certDir: "/etc/kubernetes/pki", kubeconfigDir: "/etc/kubernetes", encryptionAlgorithm: "ECDSA-P256", ...flags },
    { hostname: "cp", defaultAddress: "192.0.2.10" });
  const m = memoryStore();
  await runInit(cfg, { certs: allCertPhases(), kubeconfigs: allKubeconfigPhases() }, { crypto, store: m.store, now: MADE, log: () => {}, warn: () => {} });
  return m;
}
const report = async (files: Map<string, { data: string }>, externalEtcd = false) =>
  (await kubeadmExpiration({ certificatesDir: "/etc/kubernetes/pki", kubeconfigDir: "/etc/kubernetes", externalEtcd },
    { read: async (p) => files.get(p)?.data }, NOW)).info;

const ROW = (name: string, ca: string) => `${name.padEnd(27)}Aug 19, 2026 09:03 UTC   360d            ${ca.padEnd(24)}no      `;

describe("kpki certs check-expiration: kubeadm's report byte for byte", async () => {
  const { files } = await pki();
  const info = await report(files);

  it("text: the sample's tables, widths and trailing padding", () => {
    expect(renderKubeadmText(info)).toBe([
      "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
      ROW("admin.conf", "ca"),
      ROW("apiserver", "ca"),
      ROW("apiserver-etcd-client", "etcd-ca"),
      ROW("apiserver-kubelet-client", "ca"),
      ROW("controller-manager.conf", "ca"),
      ROW("etcd-healthcheck-client", "etcd-ca"),
      ROW("etcd-peer", "etcd-ca"),
      ROW("etcd-server", "etcd-ca"),
      ROW("front-proxy-client", "front-proxy-ca"),
      ROW("scheduler.conf", "ca"),
      ROW("super-admin.conf", "ca"),
      "",
      "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED",
      "ca                      Aug 17, 2035 09:03 UTC   9y              no      ",
      "etcd-ca                 Aug 17, 2035 09:03 UTC   9y              no      ",
      "front-proxy-ca          Aug 17, 2035 09:03 UTC   9y              no      ",
      "",
    ].join("\n"));
  });

  it("JSON: kubeadm's field order, 4-space indent, RFC 3339 dates, residual seconds", () => {
    const json = renderKubeadmJson(info);
    const leafSeconds = Math.trunc((MADE.getTime() + 8760 * 3_600_000 - NOW.getTime()) / 1000);
    expect(json.startsWith(`{
    "kind": "CertificateExpirationInfo",
    "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
    "certificates": [
        {
            "name": "admin.conf",
            "expirationDate": "2026-08-19T09:03:12Z",
            "residualTime": ${leafSeconds},
            "externallyManaged": false,
            "caName": "ca",
            "missing": false
        },
`)).toBe(true);
    expect(json).toContain(`    "certificateAuthorities": [
        {
            "name": "ca",
            "expirationDate": "2035-08-17T09:03:12Z",
            "residualTime": ${Math.trunc((MADE.getTime() + 87600 * 3_600_000 - NOW.getTime()) / 1000)},
            "externallyManaged": false,
            "missing": false
        },`);
    expect(json.endsWith("    ]\n}\n")).toBe(true);
  });

  it("YAML: sigs.k8s.io/yaml layout, keys sorted, dates quoted", () => {
    const yaml = renderKubeadmYaml(info);
    expect(yaml.startsWith(`apiVersion: output.kubeadm.k8s.io/v1alpha3
certificateAuthorities:
- expirationDate: "2035-08-17T09:03:12Z"
  externallyManaged: false
  missing: false
  name: ca
  residualTime: ${Math.trunc((MADE.getTime() + 87600 * 3_600_000 - NOW.getTime()) / 1000)}
`)).toBe(true);
    expect(yaml).toContain(`certificates:
- caName: ca
  expirationDate: "2026-08-19T09:03:12Z"
  externallyManaged: false
  missing: false
  name: admin.conf
`);
    expect(yaml.endsWith("kind: CertificateExpirationInfo\n")).toBe(true);
  });

  it("a missing super-admin.conf widens the first column to 29 and prints !MISSING! with padding; JSON says null", async () => {
    const copy = new Map(files);
    copy.delete("/etc/kubernetes/super-admin.conf");
    const r = await report(copy);
    const text = renderKubeadmText(r).split("\n");
    // "!MISSING! super-admin.conf" is 26 characters: the first column becomes 26 + 3 = 29 wide, and the empty
    // tab-terminated cells are padded to their columns' widths (25, 16 and 24).
    expect(text[0]).toBe(`${"CERTIFICATE".padEnd(29)}EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED`);
    expect(text[1]).toBe(`${"admin.conf".padEnd(29)}Aug 19, 2026 09:03 UTC   360d            ca                      no      `);
    expect(text[11]).toBe(`${"!MISSING! super-admin.conf".padEnd(29)}${" ".repeat(25 + 16 + 24)}`);
    expect(text[14]).toBe("ca                      Aug 17, 2035 09:03 UTC   9y              no      "); // second table unaffected
    expect(renderKubeadmJson(r)).toContain(`        {
            "name": "super-admin.conf",
            "expirationDate": null,
            "residualTime": 0,
            "externallyManaged": false,
            "missing": true
        }`);
    expect(renderKubeadmYaml(r)).toContain("- expirationDate: null\n  externallyManaged: false\n  missing: true\n  name: super-admin.conf\n  residualTime: 0\n");
  });

  it("EXTERNALLY MANAGED: yes for a CA without its key and every certificate it signed", async () => {
    const copy = new Map(files);
    copy.delete("/etc/kubernetes/pki/ca.key");
    const r = await report(copy);
    expect(r.certificateAuthorities.map((c) => [c.name, c.externallyManaged])).toEqual([["ca", true], ["etcd-ca", false], ["front-proxy-ca", false]]);
    expect(r.certificates.filter((c) => c.externallyManaged).map((c) => c.name)).toEqual([
      "admin.conf", "apiserver", "apiserver-kubelet-client", "controller-manager.conf", "scheduler.conf", "super-admin.conf",
    ]);
    expect(renderKubeadmText(r)).toContain("ca                      Aug 17, 2035 09:03 UTC   9y              yes     \n");
  });

  it("expired certificates show <invalid> and a negative residual time", async () => {
    const later = new Date(MADE.getTime() + 400 * 86_400_000);
    const r = (await kubeadmExpiration({ certificatesDir: "/etc/kubernetes/pki", kubeconfigDir: "/etc/kubernetes", externalEtcd: false },
      { read: async (p) => files.get(p)?.data }, later)).info;
    expect(renderKubeadmText(r)).toContain(`${"apiserver".padEnd(27)}Aug 19, 2026 09:03 UTC   <invalid>       ca`);
    expect(r.certificates[0]!.residualTime).toBeLessThan(0);
  });

  it("external etcd: no etcd rows and no etcd-ca", async () => {
    const ext = await pki({}, { etcd: { external: { endpoints: ["https://e:2379"] } } });
    const r = await report(ext.files, true);
    expect(r.certificates.map((c) => c.name)).toEqual(["admin.conf", "apiserver", "apiserver-kubelet-client", "controller-manager.conf", "front-proxy-client", "scheduler.conf", "super-admin.conf"]);
    expect(r.certificateAuthorities.map((c) => c.name)).toEqual(["ca", "front-proxy-ca"]);
  });

  it("unreadable files become rows that name the problem; the rest of the report stands", async () => {
    const copy = new Map(files);
    copy.set("/etc/kubernetes/pki/apiserver.crt", { data: "not a certificate", mode: 0o644 });
    copy.set("/etc/kubernetes/admin.conf", { data: "clusters: [", mode: 0o600 });
    const r = await report(copy);
    const apiserver = r.certificates.find((c) => c.name === "apiserver")!;
    expect(apiserver).toMatchObject({ missing: false, expirationDate: undefined, error: "/etc/kubernetes/pki/apiserver.crt: no CERTIFICATE block found" });
    expect(r.certificates.find((c) => c.name === "admin.conf")!.error).toMatch(/^failed to load kubeConfig file \/etc\/kubernetes\/admin\.conf/);
    expect(renderKubeadmText(r)).toContain("!INVALID! apiserver");
    expect(r.certificates.filter((c) => c.expirationDate).length).toBe(9);
  });
});
