import { describe, expect, it } from "vitest";
import { apiClientUsages, apiCsrName, checkApiUserRequest, lifetimeWarning, userCsrObject, userCsrState } from "../../src/kubeadm/kubeconfig-user.js";

const H = 3_600_000;
const at = new Date(Date.UTC(2026, 0, 1, 12, 0, 0));

describe("kubeconfig user --via-api: the decisions", () => {
  it("refuses system:masters and an expiration under 600 s; 10m itself is accepted", () => {
    expect(() => checkApiUserRequest({ clientName: "x", organizations: ["dev", "system:masters"], expirationMs: undefined })).toThrow(/--org system:masters is refused/);
    expect(() => checkApiUserRequest({ clientName: "x", organizations: [], expirationMs: 599_000 })).toThrow(/below the API's minimum of 10m/);
    expect(() => checkApiUserRequest({ clientName: "x", organizations: ["system:mastersx"], expirationMs: 600_000 })).not.toThrow();
  });

  it("names the CSR kpki-<DNS label>-<suffix>; usages are the ones the kube-apiserver-client signer accepts", () => {
    expect(apiCsrName("Jane Doe@example.com", "0a1b2c3d")).toBe("kpki-jane-doe-example-com-0a1b2c3d");
    expect(apiCsrName("::", "00")).toBe("kpki-user-00");
    expect(apiClientUsages("RSA-2048")).toEqual(["digital signature", "key encipherment", "client auth"]);
    expect(apiClientUsages("ECDSA-P256")).toEqual(["digital signature", "client auth"]);
    const obj = userCsrObject("n", "PEM", ["client auth"], 8 * H) as { spec: Record<string, unknown> };
    expect(obj.spec).toMatchObject({ signerName: "kubernetes.io/kube-apiserver-client", expirationSeconds: 28800, usages: ["client auth"] });
    expect("expirationSeconds" in (userCsrObject("n", "PEM", [], undefined) as { spec: object }).spec).toBe(false);
  });

  it("reads a CSR's state: Denied and Failed win, then a certificate, then Approved", () => {
    const meta = { name: "n" };
    expect(userCsrState({ metadata: meta })).toEqual({ kind: "pending" });
    expect(userCsrState({ metadata: meta, status: { conditions: [{ type: "Approved", status: "True" }] } })).toEqual({ kind: "approved" });
    expect(userCsrState({ metadata: meta, status: { conditions: [{ type: "Approved", status: "True" }], certificate: Buffer.from("CERT").toString("base64") } })).toEqual({ kind: "issued", certificatePem: "CERT" });
    expect(userCsrState({ metadata: meta, status: { conditions: [{ type: "Approved" }, { type: "Failed", status: "True", reason: "R", message: "M" }] } })).toEqual({ kind: "failed", reason: "R", message: "M" });
    expect(userCsrState({ metadata: meta, status: { conditions: [{ type: "Denied", status: "True", reason: "KubectlDeny", message: "no" }] } })).toEqual({ kind: "denied", reason: "KubectlDeny", message: "no" });
  });

  it("reports a lifetime longer or shorter than asked (beyond a minute or 1 %), and nothing when it matches or nothing was asked", () => {
    expect(lifetimeWarning(new Date(at.getTime() + 8 * H + 30_000), at, 8 * H)).toBeUndefined();
    expect(lifetimeWarning(new Date(at.getTime() + 365 * 24 * H), at, 8 * H)).toMatch(/a longer lifetime than the 8h0m0s asked; the signer ignored spec.expirationSeconds/);
    expect(lifetimeWarning(new Date(at.getTime() + H), at, 8 * H)).toMatch(/a shorter lifetime than the 8h0m0s asked; .*--cluster-signing-duration/);
    expect(lifetimeWarning(new Date(at.getTime() + H), at, undefined)).toBeUndefined();
  });
});
