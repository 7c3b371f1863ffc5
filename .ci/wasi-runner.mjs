#!/usr/bin/env node
// The cargo runner for wasm32-wasip1 (see .cargo/config.toml): runs a WASI preview1 module
// under Node's built-in `node:wasi` (Node 20 or later), so `cargo test --target
// wasm32-wasip1` needs nothing installed beyond Node.
//
//   node wasi-runner.mjs MODULE.wasm [ARGS...]
//
// The module gets the arguments, the environment and the current directory (preopened as
// `.`). Its exit status is ours; a trap becomes status 134.
//
// Test binaries (libtest) get two more things, because under WASI a panic aborts the whole
// binary, so the first failing test would hide every later one and its message (captured by
// libtest) would be lost:
//   - a test that aborts because it cannot spawn a thread (WASI preview1 has none) is
//     skipped: the binary runs again with `--skip NAME`, and the skipped tests are listed;
//   - any other abort is re-run alone with `--nocapture`, so its panic message is shown,
//     and fails the run.
// Only the last run's output is shown, so it ends with one libtest summary line.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { argv, cwd, env, execArgv, execPath, exit, stderr, stdout } from 'node:process';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';

const [module, ...args] = argv.slice(2);
if (!module) {
    stderr.write('usage: wasi-runner.mjs MODULE.wasm [ARGS...]\n');
    exit(2);
}

// One run, in this process, on the inherited stdio: what each run below spawns (a fresh
// process per run: Node can crash when one process instantiates a module again after a
// trap).
if (env.WASI_RUNNER_ONCE === '1') {
    let status;
    try {
        const wasi = new WASI({
            version: 'preview1',
            args: [module, ...args],
            env,
            preopens: { '.': cwd() },
            returnOnExit: true,
        });
        const wasm = await WebAssembly.compile(readFileSync(module));
        const instance = await WebAssembly.instantiate(wasm, wasi.getImportObject());
        status = wasi.start(instance) ?? 0;
    } catch (e) {
        stderr.write(`wasi-runner: ${module}: ${e instanceof Error ? e.message : e}\n`);
        status = 134;
    }
    exit(status);
}

// Runs the module once with `runArgs` in a child process; returns its status and output.
function run(runArgs) {
    const r = spawnSync(execPath, [...execArgv, fileURLToPath(import.meta.url), module, ...runArgs], {
        env: { ...env, WASI_RUNNER_ONCE: '1' },
        encoding: 'utf8',
        maxBuffer: 1 << 30,
    });
    if (r.error) {
        return { status: 1, out: '', err: `wasi-runner: ${r.error.message}\n` };
    }
    const status = r.status ?? 128 + 11;
    const signal = r.signal ? `wasi-runner: ${module}: node ended by ${r.signal}\n` : '';
    return { status, out: r.stdout, err: r.stderr + signal };
}

const NEEDS_THREADS = /failed to spawn thread|Os \{ code: \d+, kind: Unsupported/;
const isLibtest = (out) => /^running \d+ tests?$/m.test(out);
// the test that was running when the binary aborted: libtest printed `test NAME ... `
const abortedTest = (out) => out.match(/^test (\S+) \.\.\. $/m)?.[1];

const skipped = [];
let status = 0;
for (;;) {
    const skips = skipped.flatMap((name) => ['--skip', name]);
    const r = run([...args, ...skips]);
    const name = r.status !== 0 && isLibtest(r.out) ? abortedTest(r.out) : undefined;
    if (name === undefined || skipped.includes(name)) {
        stdout.write(r.out);
        stderr.write(r.err);
        status = r.status;
        break;
    }
    const alone = run([name, '--exact', '--nocapture']);
    if (NEEDS_THREADS.test(alone.err)) {
        skipped.push(name);
        continue;
    }
    stdout.write(r.out);
    stderr.write(alone.err || r.err);
    status = r.status;
    break;
}
if (skipped.length > 0) {
    stderr.write(
        `wasi-runner: skipped ${skipped.length} test(s) that need threads (none under WASI): ` +
            `${skipped.join(', ')}\n`,
    );
}
exit(status);
