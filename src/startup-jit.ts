/**
 * Holds back TurboFan, V8's optimizing compiler, while the process starts (issue 21 item 4).
 *
 * Loading some 300 modules makes the module loader's own functions (URL parsing, path
 * resolution) hot enough for TurboFan, whose first use pages in about 3.5 MiB of the node
 * binary's code: resident memory of a proxy that then sits idle. Started without it, the proxy
 * runs its start-up in the interpreter and baseline compiler (Sparkplug) only; the compiler is
 * back as soon as the command has started, and the request path is optimised on first traffic
 * as before. A process whose node flags name the optimizing compiler (or --jitless) is left as
 * its flags say.
 */
import v8 from 'node:v8';

const FLAGS_WE_LEAVE_ALONE = /--(no-)?(turbofan|opt)\b|--jitless|--max-opt\b/;

export function holdOptimizingCompiler(): () => void {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (FLAGS_WE_LEAVE_ALONE.test(flags)) return () => {};
  v8.setFlagsFromString('--no-turbofan');
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    v8.setFlagsFromString('--turbofan');
  };
}
