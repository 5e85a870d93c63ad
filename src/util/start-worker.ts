/**
 * Starts a worker module that sits beside the caller: `<name>.js` from compiled JavaScript
 * (dist/), or `<name>.ts` from the TypeScript sources (tsx, vitest, `node bin/expo-bot.js`
 * without a build), where the worker first registers tsx's ESM loader and then imports it.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

export function startModuleWorker(callerUrl: string, name: string, options: Omit<WorkerOptions, "eval"> = {}): Worker {
  // Workers inherit the parent's execArgv; drop what only makes sense for the main script.
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const a = process.execArgv[i];
    if (a.startsWith("--input-type")) continue;
    if (a === "-e" || a === "--eval" || a === "-p" || a === "--print") {
      i++;
      continue;
    }
    execArgv.push(a);
  }
  const opts = { execArgv, ...options };
  if (!callerUrl.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, callerUrl), opts);
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const tsxApi = resolveTsxApi(callerUrl);
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry)}); }).catch((e) => { console.error(e); process.exit(1); });`;
  return new Worker(code, { ...opts, eval: true });
}

/** tsx's ESM API entry (its CommonJS twin cannot register the loader from a worker). */
function resolveTsxApi(from: string): string {
  const meta = import.meta as ImportMeta & { resolve?: (s: string) => string };
  if (typeof meta.resolve === "function") {
    try {
      return meta.resolve("tsx/esm/api");
    } catch {
      // fall through
    }
  }
  const cjs = createRequire(from).resolve("tsx/esm/api");
  const esm = cjs.replace(/\.cjs$/, ".mjs");
  return pathToFileURL(existsSync(esm) ? esm : cjs).href;
}
