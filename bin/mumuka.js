#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (npm run build, done by npm ci).
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv.slice(2));
