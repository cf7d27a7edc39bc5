// Builds the CommonJS copy of the package (`npm pack` runs it as `prepack`): every ES module in src/ becomes a
// `.cjs` module in dist/ (TypeScript's transpiler, already a dev dependency, rewrites import/export to
// require/exports; relative `./x.js` specifiers become `./x.cjs`). The typings become `dist/index.d.cts`, which
// TypeScript reads as a CommonJS module's, and `dist/index.d.mts` re-exports them for `import`: both module kinds
// see one set of declarations, so a contract generated in a CommonJS file still types an ES module's client. The
// ES modules in src/ stay the source: browsers and `import` load them as they are.

import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import ts from "typescript";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "src");
const DIST = join(ROOT, "dist");

rmSync(DIST, { recursive: true, force: true });
mkdirSync(DIST);
for (const file of readdirSync(SRC).filter((name) => name.endsWith(".js"))) {
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(join(SRC, file), "utf8"), {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, allowJs: true },
  });
  if (diagnostics.length > 0) {
    throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, "\n")}`);
  }
  const cjs = outputText.replace(/require\("(\.\/[^"]+)\.js"\)/g, 'require("$1.cjs")');
  writeFileSync(join(DIST, file.replace(/\.js$/, ".cjs")), cjs);
}
copyFileSync(join(SRC, "index.d.ts"), join(DIST, "index.d.cts"));
writeFileSync(join(DIST, "index.d.mts"), 'export * from "./index.cjs";\n');
