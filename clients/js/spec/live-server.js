// Start a real ConnectNow server (`python -m connectnow serve`) for the tests, on a free port and a temporary
// data folder; it can be stopped and started again on the same port and data (a restart, for reconnect tests).
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const PYTHON = process.env.CONNECTNOW_PYTHON ?? join(ROOT, ".venv/bin/python");
const START_TIMEOUT_MS = 30_000;

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class TestServer {
  constructor(settings = {}) {
    this.settings = settings;
    this.dataDir = mkdtempSync(join(tmpdir(), "connectnow-js-"));
    this.process = null;
  }

  static async start(settings) {
    const server = new TestServer(settings);
    server.port = await freePort();
    server.url = `http://127.0.0.1:${server.port}`;
    await server.up();
    return server;
  }

  async up() {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CONNECTNOW_")));
    Object.assign(env, {
      CONNECTNOW_ENV: "development",
      CONNECTNOW_DATA_DIR: this.dataDir,
      CONNECTNOW_LOG_LEVEL: "warning",
      ...this.settings,
    });
    this.logPath = join(this.dataDir, `server-${Date.now()}.log`);
    const log = openSync(this.logPath, "w");
    this.process = spawn(PYTHON, ["-m", "connectnow", "serve", "--host", "127.0.0.1", "--port", String(this.port)], {
      cwd: ROOT,
      env,
      stdio: ["ignore", log, log],
      detached: true, // its own process group, so stop() ends every process it started
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) throw new Error(`server exited:\n${readFileSync(this.logPath, "utf8")}`);
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) return;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    throw new Error(`server not ready in ${START_TIMEOUT_MS} ms:\n${readFileSync(this.logPath, "utf8")}`);
  }

  async down() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid, "SIGTERM");
    const timer = setTimeout(() => process.kill(-child.pid, "SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

let counter = 0;
export const PASSWORD = "correct horse battery staple";

/** A unique username for this run. */
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix}${process.pid}x${counter}${Math.random().toString(36).slice(2, 6)}`.slice(0, 30);
}

export { sleep };
