import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { findBinary, missingBinaries } from "../helpers/testenv.js";

const RULES = resolve(import.meta.dirname, "../../deploy/exporter/alerts.rules.yaml");
const CRD = resolve(import.meta.dirname, "../../deploy/exporter/prometheusrule.yaml");
const work = mkdtempSync(join(tmpdir(), "kpki-alerts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const promtool = (...args: string[]) => {
  const r = spawnSync(findBinary("promtool")!, args, { cwd: work, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};
const DAY = 86_400;

describe("deploy/exporter's alert rules", () => {
  it("the PrometheusRule holds the rule file's groups", () => {
    const file = parse(readFileSync(RULES, "utf8")) as { groups: unknown };
    const crd = parse(readFileSync(CRD, "utf8")) as { kind: string; spec: { groups: unknown } };
    expect(crd.kind).toBe("PrometheusRule");
    expect(crd.spec.groups).toEqual(file.groups);
  });

  describe.skipIf(missingBinaries("promtool"))("with Prometheus' promtool", () => {
    it("the rule file is valid", () => {
      expect(promtool("check", "rules", RULES)).toMatchObject({ status: 0 });
    });

    it("deploy/exporter/alerts.test.yaml, the README's example, passes: an expiring Secret and CSR certificate fire, a healthy one does not", () => {
      const r = promtool("test", "rules", resolve(import.meta.dirname, "../../deploy/exporter/alerts.test.yaml"));
      expect(r.status, r.output).toBe(0);
      expect(r.output).toContain("SUCCESS");
    });

    it("alerts 15 minutes into 28 days left (warning) and 14 days left or expired (critical), and not before; errors and future certificates too", () => {
      // time() starts at 0 in promtool's tests, so a value is the time left in seconds.
      const series = (labels: string, value: number) => ({ series: `${labels}`, values: `${value}x30` });
      const at = (subject: string, extra = "") => `{subject_CN="${subject}",filepath="/etc/kubernetes/pki/${subject}.crt",instance="cp1:9793"${extra}}`;
      const labels = (subject: string, severity: string) => ({ severity, subject_CN: subject, filepath: `/etc/kubernetes/pki/${subject}.crt`, instance: "cp1:9793" });
      const tests = {
        rule_files: [RULES],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: [
              series(`x509_cert_not_after${at("in30days")}`, 30 * DAY),
              series(`x509_cert_not_after${at("in20days")}`, 20 * DAY),
              series(`x509_cert_not_after${at("in10days")}`, 10 * DAY),
              series(`x509_cert_not_after{subject_CN="expired",secret_namespace="web",secret_name="tls",secret_key="tls.crt",instance="cp1:9793"}`, -100),
              series(`x509_cert_not_before${at("future")}`, 2 * DAY),
              series(`x509_cert_error{filepath="/etc/kubernetes/admin.conf",embedded_kind="user",embedded_key="kubernetes-admin",instance="cp1:9793"}`, 1),
            ],
            alert_rule_test: [
              { eval_time: "14m", alertname: "CertificateRenewal", exp_alerts: [] },
              { eval_time: "14m", alertname: "CertificateExpiration", exp_alerts: [] },
              {
                eval_time: "16m",
                alertname: "CertificateRenewal",
                exp_alerts: [
                  {
                    exp_labels: labels("in20days", "warning"),
                    exp_annotations: { summary: "Certificate should be renewed", description: "Certificate in20days expires in 19d 23h 44m 0s (/etc/kubernetes/pki/in20days.crt on cp1:9793)" },
                  },
                  {
                    exp_labels: labels("in10days", "warning"),
                    exp_annotations: { summary: "Certificate should be renewed", description: "Certificate in10days expires in 9d 23h 44m 0s (/etc/kubernetes/pki/in10days.crt on cp1:9793)" },
                  },
                ],
              },
              {
                eval_time: "16m",
                alertname: "CertificateExpiration",
                exp_alerts: [
                  {
                    exp_labels: labels("in10days", "critical"),
                    exp_annotations: { summary: "Certificate is about to expire, or has expired", description: "Certificate in10days expires in 9d 23h 44m 0s (/etc/kubernetes/pki/in10days.crt on cp1:9793)" },
                  },
                  {
                    exp_labels: { severity: "critical", subject_CN: "expired", secret_namespace: "web", secret_name: "tls", secret_key: "tls.crt", instance: "cp1:9793" },
                    exp_annotations: { summary: "Certificate is about to expire, or has expired", description: "Certificate expired has expired (Secret web/tls on cp1:9793)" },
                  },
                ],
              },
              {
                eval_time: "16m",
                alertname: "CertificateNotYetValid",
                exp_alerts: [
                  {
                    exp_labels: labels("future", "warning"),
                    exp_annotations: {
                      summary: "Certificate is not valid yet",
                      description: "Certificate future becomes valid in 1d 23h 44m 0s: a clock off, or a certificate dated wrongly (/etc/kubernetes/pki/future.crt on cp1:9793)",
                    },
                  },
                ],
              },
              {
                eval_time: "16m",
                alertname: "CertificateError",
                exp_alerts: [
                  {
                    exp_labels: { severity: "warning", filepath: "/etc/kubernetes/admin.conf", embedded_kind: "user", embedded_key: "kubernetes-admin", instance: "cp1:9793" },
                    exp_annotations: {
                      summary: "A certificate cannot be read",
                      description: "/etc/kubernetes/admin.conf (user kubernetes-admin) on cp1:9793 should hold a certificate and does not parse, or cannot be read",
                    },
                  },
                ],
              },
            ],
          },
        ],
      };
      writeFileSync(join(work, "tests.yaml"), stringify(tests));
      const r = promtool("test", "rules", "tests.yaml");
      expect(r.output).toContain("SUCCESS");
      expect(r.status).toBe(0);
    });
  });
});
