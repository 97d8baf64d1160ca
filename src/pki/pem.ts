import type { Bytes } from "./der.js";
import { base64ToBytes, bytesToBase64 } from "./der.js";

/** One PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...) and DER bytes. */
export interface PemBlock {
  readonly label: string;
  readonly der: Bytes;
}

/** Raised for text whose PEM armour or base64 body is broken. */
export class PemError extends Error {
  override name = "PemError";
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/**
 * Every PEM block in `text`, in order. Text before, between and after blocks is
 * ignored, as Go's pem.Decode does (easy-rsa writes `openssl x509 -text` output
 * before the block). Headers (`Proc-Type: ...`) are not supported: kubeadm never
 * writes encrypted keys.
 */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, label = "", body = "", endLabel] = match;
    if (label !== endLabel) throw new PemError(`PEM block "${label}" ends with "${endLabel}"`);
    if (body.includes(":")) throw new PemError(`PEM block "${label}" has headers, which are not supported`);
    const b64 = body.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new PemError(`PEM block "${label}" has a malformed base64 body`);
    }
    blocks.push({ label, der: base64ToBytes(b64) });
  }
  return blocks;
}

/** PEM text as Go's pem.EncodeToMemory writes it: 64-character lines and a final newline. */
export function encodePem(label: string, der: Bytes): string {
  const b64 = bytesToBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}${lines.length ? "\n" : ""}-----END ${label}-----\n`;
}
