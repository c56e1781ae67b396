#!/usr/bin/env node
// Runs the prebuilt intercomm binary of this platform, shipped in the
// package intercomm-<platform>-<arch> (an optional dependency that npm
// installs only where its os and cpu match). stdin, stdout and stderr are
// the binary's own (`intercomm mcp` speaks JSON-RPC on them); its exit code
// and signals pass through.
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");

const arch = { x64: "x64", arm64: "arm64" }[process.arch] || process.arch;
const pkg = `intercomm-${process.platform}-${arch}`;
let binary;
try {
  binary = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), "bin", "intercomm");
} catch {
  process.stderr.write(
    `intercomm: no prebuilt binary for ${process.platform}-${arch} (package ${pkg} is not installed).\n` +
      "Install it from source instead: cargo install --locked --path <a clone of intercomm>\n",
  );
  process.exit(1);
}
const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (err) => {
  process.stderr.write(`intercomm: cannot run ${binary}: ${err.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
