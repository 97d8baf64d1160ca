import type { Bytes } from "./der.js";
import { BASE64_ALPHABET, base64ToBytes, bytesToBase64, paddedBase64ToBytes } from "./der.js";
import { PkiError } from "../errors.js";

/** One PEM block: its label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...) and DER bytes. */
export interface PemBlock {
  readonly label: string;
  readonly der: Bytes;
}

/** Raised for text whose PEM armour or base64 body is broken. */
export class PemError extends PkiError {
  override name = "PemError";
  constructor(message: string) {
    super("invalid-input", message);
  }
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

const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;

/**
 * The DER of a PEM text that has exactly one reading: one `label` block and nothing else.
 * The text starts with `-----BEGIN <label>-----` (no byte before it: Go's pem.Decode finds a
 * block only at the very start or after a newline, and skips what precedes it), has no headers,
 * holds base64 lines ending in LF or CRLF with nothing else on them, and ends with the END line
 * and at most one line ending. The base64 must be canonical (padded, zero padding bits), so
 * exactly one byte string decodes from it. Everything else is refused with the offset at fault.
 */
export function readCanonicalPem(text: Bytes, label: string): Bytes {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  for (let i = 0; i < text.length; i++) {
    if (text[i]! >= 0x80) throw new PemError(`at byte ${i}: a non-ASCII byte (0x${text[i]!.toString(16)}) in PEM text`);
  }
  const s = new TextDecoder().decode(text); // ASCII, checked above
  if (!s.startsWith(begin)) {
    const firstBegin = s.indexOf("-----BEGIN ");
    throw new PemError(firstBegin > 0 ? `at byte 0: ${firstBegin} bytes before "-----BEGIN" (the text must start with the block)` : `at byte 0: the text does not start with "${begin}"`);
  }
  let pos = begin.length;
  const lineEnd = (at: number): number => {
    if (s.startsWith("\r\n", at)) return 2;
    if (s[at] === "\n") return 1;
    return 0;
  };
  const afterBegin = lineEnd(pos);
  if (!afterBegin) throw new PemError(`at byte ${pos}: the BEGIN line must end right after "-----"`);
  pos += afterBegin;
  let body = "";
  for (;;) {
    if (s.startsWith(end, pos)) break;
    const nl = s.indexOf("\n", pos);
    const lineStop = nl < 0 ? s.length : s[nl - 1] === "\r" ? nl - 1 : nl;
    const line = s.slice(pos, lineStop);
    if (nl < 0) throw new PemError(`at byte ${pos}: no "${end}" line`);
    if (!BASE64_LINE.test(line)) {
      const bad = line.search(/[^A-Za-z0-9+/=]/);
      throw new PemError(line === "" ? `at byte ${pos}: an empty line inside the PEM block` : line.includes(":") && body === "" ? `at byte ${pos}: PEM headers are not accepted` : `at byte ${pos + Math.max(bad, 0)}: a character that is not base64 inside the PEM block`);
    }
    body += line;
    pos = nl + 1;
  }
  pos += end.length;
  pos += lineEnd(pos);
  if (pos !== s.length) throw new PemError(`at byte ${pos}: ${s.length - pos} bytes after the END line (only one line ending may follow it)`);
  if (body === "" || body.length % 4 !== 0 || /=[^=]|={3}/.test(body)) throw new PemError("the PEM body is not padded base64");
  // Canonical: the bits that padding leaves over in the last character are zero (RFC 4648 §3.5).
  const pad = body.endsWith("==") ? 2 : body.endsWith("=") ? 1 : 0;
  const last = BASE64_ALPHABET.indexOf(body[body.length - 1 - pad] ?? "A");
  if (pad && last & (pad === 2 ? 0x0f : 0x03)) throw new PemError("the PEM body is not canonical base64 (non-zero padding bits)");
  const der = paddedBase64ToBytes(body);
  if (!der) throw new PemError("the PEM body is not padded base64");
  return der;
}
