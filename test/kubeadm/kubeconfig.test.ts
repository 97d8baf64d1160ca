import { parse, stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { readKubeconfig, renderKubeconfig } from "../../src/kubeadm/kubeconfig.js";

const content = (clusterName: string, user: string, server: string) => ({
  clusterName, server, user, caPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  clientCertPem: "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n", clientKeyPem: "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n",
});

describe("kubeconfig rendering (clientcmd.Write layout)", () => {
  it.each([
    ["kubernetes", "kubernetes-admin", "https://192.0.2.10:6443"],
    ["kubernetes", "system:node:node-1", "https://[fd00::1]:6443"],
    ["prod", "system:kube-controller-manager", "https://api.example.com:7443"],
    ["true", "123", "https://x:1"], // names that YAML would read as other types get quoted
    ["a: b", "#user", "https://x:1"],
  ])("%s / %s reads back exactly and matches a YAML library's layout", async (clusterName, user, server) => {
    const text = renderKubeconfig(content(clusterName, user, server));
    const doc = parse(text) as Record<string, unknown>;
    expect(doc["current-context"]).toBe(`${user}@${clusterName}`);
    const view = await readKubeconfig(text, "x");
    expect([view.clusterName, view.userName, view.server]).toEqual([clusterName, user, server]);
    expect(view.clientKeyData).toContain("EC PRIVATE KEY");
    // Same bytes as the `yaml` library writes with go-yaml's list style, for the same document.
    expect(text).toBe(stringify(doc, { indentSeq: false, lineWidth: 0 }));
  });
});

describe("reading kubeconfigs", () => {
  it.each([
    ["clusters: [", /^failed to load kubeConfig file k: /],
    ["apiVersion: v1\nkind: Config\n", /^invalid kubeConfig file k: no current-context$/],
    ["current-context: nope\ncontexts: []\n", /^invalid kubeConfig file k: missing context nope$/],
    ["current-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\n", /^invalid kubeConfig file k: missing cluster x$/],
    ["current-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\nclusters:\n- name: x\n  cluster: {server: s, certificate-authority-data: '!!!'}\nusers:\n- name: u\n  user: {}\n",
      /^k: certificate-authority-data is not valid base64$/],
  ])("%j → a one-line error naming the file", async (text, message) => {
    await expect(readKubeconfig(text, "k")).rejects.toThrow(message);
  });
});
