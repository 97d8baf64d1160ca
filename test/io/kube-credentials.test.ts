import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lightKubeAuth } from "../../src/io/kube-credentials.js";

const work = mkdtempSync(join(tmpdir(), "kpki-credentials-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A kubeconfig with one context; `user` and `cluster` are its entries' fields, as YAML flow maps. */
function kubeconfig(name: string, cluster: string, user: string): string {
  const path = join(work, name);
  writeFileSync(path, `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}, {name: other, context: {cluster: x, user: x}}]\nclusters: [{name: k, cluster: ${cluster}}]\nusers: [{name: u, user: ${user}}]\n`);
  return path;
}
const none: NodeJS.ProcessEnv = {};

describe("lightKubeAuth: a kubeconfig's credentials without client-node", () => {
  it("reads the current context's server, CA and client certificate, from data or from files beside the kubeconfig", async () => {
    mkdirSync(join(work, "certs"));
    writeFileSync(join(work, "certs", "client.crt"), "CERT");
    writeFileSync(join(work, "certs", "client.key"), "KEY");
    const data = lightKubeAuth(kubeconfig("data.conf", `{server: "https://10.0.0.1:6443", certificate-authority-data: ${Buffer.from("CA").toString("base64")}, tls-server-name: api.internal}`, `{client-certificate: certs/client.crt, client-key: certs/client.key}`), none);
    expect(data?.server).toBe("https://10.0.0.1:6443");
    const c = await data!.credentials();
    expect([String(c.tls.ca), String(c.tls.cert), String(c.tls.key), c.tls.servername]).toEqual(["CA", "CERT", "KEY", "api.internal"]);
    expect(c.headers).toEqual({});
  });

  it("sends a bearer token, and reads a token file again each time it is asked (a rotated token is used)", async () => {
    writeFileSync(join(work, "token"), "first\n");
    const auth = lightKubeAuth(kubeconfig("token.conf", `{server: "https://api:6443"}`, `{tokenFile: token}`), none)!;
    expect((await auth.credentials()).headers).toEqual({ authorization: "Bearer first" });
    writeFileSync(join(work, "token"), "second\n");
    expect((await auth.credentials()).headers).toEqual({ authorization: "Bearer second" });
    const inline = lightKubeAuth(kubeconfig("inline.conf", `{server: "https://api:6443", insecure-skip-tls-verify: true}`, `{token: abc}`), none)!;
    const c = await inline.credentials();
    expect([c.headers, c.tls.rejectUnauthorized]).toEqual([{ authorization: "Bearer abc" }, false]);
  });

  it("leaves to client-node what it does not read: exec plugins, auth providers, basic auth, impersonation, proxies, several $KUBECONFIG files", () => {
    expect(lightKubeAuth(kubeconfig("exec.conf", `{server: "https://api:6443"}`, `{exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}`), none)).toBeUndefined();
    expect(lightKubeAuth(kubeconfig("provider.conf", `{server: "https://api:6443"}`, `{auth-provider: {name: oidc}}`), none)).toBeUndefined();
    expect(lightKubeAuth(kubeconfig("basic.conf", `{server: "https://api:6443"}`, `{username: a, password: b}`), none)).toBeUndefined();
    expect(lightKubeAuth(kubeconfig("as.conf", `{server: "https://api:6443"}`, `{token: t, as: admin}`), none)).toBeUndefined();
    expect(lightKubeAuth(kubeconfig("proxy.conf", `{server: "https://api:6443", proxy-url: "http://proxy:3128"}`, `{token: t}`), none)).toBeUndefined();
    expect(lightKubeAuth(undefined, { KUBECONFIG: `${join(work, "inline.conf")}:${join(work, "token.conf")}` })).toBeUndefined();
  });

  it("uses $KUBECONFIG when no file is named; a named file wins over it", () => {
    expect(lightKubeAuth(undefined, { KUBECONFIG: join(work, "inline.conf") })?.server).toBe("https://api:6443");
    expect(lightKubeAuth(join(work, "data.conf"), { KUBECONFIG: join(work, "inline.conf") })?.server).toBe("https://10.0.0.1:6443");
  });
});
