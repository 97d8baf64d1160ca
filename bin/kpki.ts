#!/usr/bin/env node
import { main } from "../src/cli/entry.js";

// No top-level await: scripts/bundle.ts bundles this file as CommonJS (the single executable's
// main script must be CommonJS), which cannot have one.
main();
