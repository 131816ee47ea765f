/**
 * `node --import <this file>` with RECORD_MODULES_FILE=FILE: appends every module the process
 * loads to FILE, one resolved URL or path a line: ES modules through a resolve hook (it runs on
 * the loader thread), CommonJS ones (createRequire, and CJS packages imported from ESM) through
 * Module._load's resolution. Lets a test prove what a process did NOT load, without any API in
 * the product for it. Plain .mjs because Node cannot --import TypeScript.
 */
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const file = process.env.RECORD_MODULES_FILE;
if (file) {
  register(new URL(import.meta.url), { data: { file } });
  const load = Module._load;
  Module._load = function recordingLoad(request, parent, isMain) {
    try {
      appendFileSync(file, `${Module._resolveFilename(request, parent, isMain)}\n`);
    } catch {
      // An unresolvable request: the real load below throws the error the caller expects.
    }
    return load.apply(this, arguments);
  };
}

// Loader-thread half: `register` above runs this same file as the hooks module.
let hookFile;
export function initialize(data) {
  hookFile = data.file;
}
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (hookFile) appendFileSync(hookFile, `${result.url}\n`);
  return result;
}
