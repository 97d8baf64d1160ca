/** kpki's version; test/cli/version.test.ts checks that it is package.json's. */
export const VERSION = "0.1.0";
