import { invalidInput } from "../errors.js";
import { base64ToBytes, bytesToBase64 } from "../pki/der.js";

const b64 = (text: string): string => bytesToBase64(new TextEncoder().encode(text));

/**
 * Puts a renewed client certificate and key into a kubeconfig, as kubeadm's
 * renewal does (renewal/readwriter.go): the current context's user gets the new
 * `client-certificate-data` and `client-key-data`, and its cluster gets
 * `certificate-authority-data` from ca.crt (kubernetes/kubeadm#2027). Every
 * other field, its order and its comments are kept.
 */
export async function withRenewedClientCert(text: string, source: string, certPem: string, keyPem: string | undefined, caPem: string): Promise<string> {
  const { doc, user, cluster } = await currentEntries(text, source);
  // Data replaces file references: client-go refuses a kubeconfig that has both.
  user.delete("client-certificate");
  user.set("client-certificate-data", b64(certPem));
  if (keyPem !== undefined) {
    // (keyPem undefined: `certs sign --kubeconfig` adds a certificate for the key already there)
    user.delete("client-key");
    user.set("client-key-data", b64(keyPem));
  }
  cluster.delete("certificate-authority");
  cluster.set("certificate-authority-data", b64(caPem));
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}

/**
 * Sets the current context's cluster `certificate-authority-data` (one CA or a bundle, PEM) and
 * changes nothing else: what CA rotation does to the kubeconfigs' trust.
 */
export async function withClusterCaData(text: string, source: string, caPem: string): Promise<string> {
  const { doc, cluster } = await currentEntries(text, source);
  cluster.delete("certificate-authority");
  cluster.set("certificate-authority-data", b64(caPem));
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}

/** The parsed document and its current context's user and cluster maps, with kubeadm's messages. */
async function currentEntries(text: string, source: string) {
  const { parseDocument, isMap, isSeq } = await import("yaml");
  const doc = parseDocument(text);
  if (doc.errors.length) throw invalidInput(`failed to load kubeConfig file ${source}: ${doc.errors[0]?.message.split("\n")[0]}`);
  const current = doc.get("current-context");
  if (typeof current !== "string" || current === "") throw invalidInput(`invalid kubeConfig file ${source}: no current-context`);
  const find = (list: string, name: string) => {
    const seq = doc.get(list);
    if (!isSeq(seq)) return undefined;
    return seq.items.find((item) => isMap(item) && item.get("name") === name) as import("yaml").YAMLMap | undefined;
  };
  const ctx = find("contexts", current)?.get("context");
  if (!isMap(ctx)) throw invalidInput(`invalid kubeConfig file ${source}: missing context ${current}`);
  const userName = String(ctx.get("user") ?? "");
  const clusterName = String(ctx.get("cluster") ?? "");
  const user = find("users", userName)?.get("user");
  if (!isMap(user)) throw invalidInput(`invalid kubeConfig file ${source}: missing authInfo ${userName}`);
  const cluster = find("clusters", clusterName)?.get("cluster");
  if (!isMap(cluster)) throw invalidInput(`invalid kubeConfig file ${source}: missing cluster ${clusterName}`);
  return { doc, user, cluster };
}

/**
 * The `certificate-authority-data` (PEM) of every cluster of a kubeconfig that has no current
 * context: kube-public/cluster-info's, which kubeadm writes with one cluster named ""
 * (cmd/kubeadm/app/phases/bootstraptoken/clusterinfo/clusterinfo.go).
 */
export async function clustersCaData(text: string, source: string): Promise<string[]> {
  const { parseDocument, isMap, isSeq } = await import("yaml");
  const doc = parseDocument(text);
  if (doc.errors.length) throw invalidInput(`failed to load kubeConfig ${source}: ${doc.errors[0]?.message.split("\n")[0]}`);
  const seq = doc.get("clusters");
  if (!isSeq(seq)) return [];
  return seq.items.flatMap((item) => {
    const cluster = isMap(item) ? item.get("cluster") : undefined;
    const data = isMap(cluster) ? cluster.get("certificate-authority-data") : undefined;
    return typeof data === "string" ? [new TextDecoder().decode(base64ToBytes(data.replace(/\s+/g, "")))] : [];
  });
}

/** Sets `certificate-authority-data` of every cluster of a kubeconfig (cluster-info's); nothing else changes. */
export async function withAllClustersCaData(text: string, source: string, caPem: string): Promise<string> {
  const { parseDocument, isMap, isSeq } = await import("yaml");
  const doc = parseDocument(text);
  if (doc.errors.length) throw invalidInput(`failed to load kubeConfig ${source}: ${doc.errors[0]?.message.split("\n")[0]}`);
  const seq = doc.get("clusters");
  if (!isSeq(seq)) throw invalidInput(`${source} has no clusters`);
  for (const item of seq.items) {
    const cluster = isMap(item) ? item.get("cluster") : undefined;
    if (!isMap(cluster)) continue;
    cluster.delete("certificate-authority");
    cluster.set("certificate-authority-data", b64(caPem));
  }
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}
