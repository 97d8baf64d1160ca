#!/usr/bin/env node
import { run } from "../src/cli/main.js";
import { nodeIo } from "../src/io/node-io.js";

process.exitCode = await run(process.argv.slice(2), nodeIo());
