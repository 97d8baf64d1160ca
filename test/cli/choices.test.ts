/**
 * The CLI declares some flags' choices from the catalogue (src/cli/choices.ts) rather than from the
 * engines that own the same lists, so that declaring every command's flags at start-up does not
 * load those engines. The lists must stay equal.
 */
import { describe, expect, it } from "vitest";
import { CERT_PHASE_NAMES, KUBECONFIG_PHASE_NAMES } from "../../src/kubeadm/init.js";
import { CREATE_DEFAULTS, CREATE_PROFILES } from "../../src/kubeadm/create.js";
import { SIGN_PROFILES } from "../../src/kubeadm/sign.js";
import { STORE_KINDS } from "../../src/trust/plan.js";
import { CERT_PHASE_CHOICES, CREATE_FLAG_DEFAULTS, CREATE_PROFILE_CHOICES, KUBECONFIG_PHASE_CHOICES, SIGN_PROFILE_CHOICES, STORE_KIND_CHOICES } from "../../src/cli/choices.js";

describe("the CLI's choices", () => {
  it("are the engines' lists, in their order", () => {
    expect(CERT_PHASE_CHOICES).toEqual(CERT_PHASE_NAMES);
    expect(KUBECONFIG_PHASE_CHOICES).toEqual(KUBECONFIG_PHASE_NAMES);
    expect(SIGN_PROFILE_CHOICES).toEqual(SIGN_PROFILES.map((p) => p.name));
    expect(STORE_KIND_CHOICES).toEqual(STORE_KINDS);
    expect(CREATE_PROFILE_CHOICES).toEqual(CREATE_PROFILES);
    expect(CREATE_FLAG_DEFAULTS).toEqual(CREATE_DEFAULTS);
  });
});
