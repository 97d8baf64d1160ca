import type { PolicyConfig } from "./policy.js";

/**
 * The approver's default policy. Apart from policy.ts so that the CLI can show these defaults in
 * its flags' help without loading the policy and the request reader at every start (policy.ts
 * re-exports it).
 */
export const DEFAULT_POLICY: PolicyConfig = {
  clusterDomains: ["cluster.local"],
  serviceCidrs: [],
  assumedServiceCidrs: ["10.96.0.0/12"],
  podCidrs: [],
  apiServerAddresses: [],
  maxExpirationSeconds: 365 * 86_400,
  nodeGraceSeconds: 300,
  maxSans: 64,
  maxRequestBytes: 32 * 1024,
  denyNonNodeRequestors: false,
  // The kubelet asks again every 15 minutes while unapproved; a node needs about one certificate per rotation.
  maxApprovalsPerNode: 3,
  approvalWindowSeconds: 600,
};
