/**
 * `quorum generate raft`: the package type-checks with tsc strict, and three nodes started from its bundle
 * alone (copied to a folder with no node_modules) form a cluster that writes a key on one node and reads it
 * on another through the etcd v2 keys API.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { crc32c as nativeCrc32c } from "@node-rs/crc32"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { crc32c } from "../src/generate/crc32c.ts"
import { freeBase } from "../src/runtime/ports.ts"
import { generateRaftPackage, GenerateError } from "../src/generate/raft-package.ts"

const repo = path.resolve(import.meta.dirname, "..")
const root = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-generate-"))
const children: ChildProcess[] = []
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL")
  fs.rmSync(root, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const run = (cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> =>
  new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    c.stdout.on("data", (b: Buffer) => (out += b.toString()))
    c.stderr.on("data", (b: Buffer) => (out += b.toString()))
    c.on("exit", (code) => resolve({ code, out }))
  })

describe("quorum generate raft", () => {
  it("the bundle's pure-JS CRC-32C gives the native addon's values", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, init) => {
        const buf = Buffer.from(bytes)
        expect(crc32c(buf, init >>> 0)).toBe(nativeCrc32c(buf, init >>> 0) >>> 0)
      }),
    )
  })

  it("refuses a flawed variant, naming why", async () => {
    await expect(generateRaftPackage({ out: path.join(root, "bad"), variant: "commit-previous-term" })).rejects.toThrow(GenerateError)
    await expect(generateRaftPackage({ out: path.join(root, "bad"), variant: "nope" })).rejects.toThrow(/valid variants: faithful/)
    await expect(generateRaftPackage({ out: path.join(root, "bad"), variant: "parallel-append-counts-self" })).rejects.toThrow(/deployable: faithful, parallel-append/)
  })

  it("generates a package that type-checks and whose bundle alone runs a 3-node cluster serving etcd v2 keys", async () => {
    const base = await freeBase()
    const out = path.join(root, "pkg")
    const result = await generateRaftPackage({ out, basePort: base })
    for (const f of ["package.json", "tsconfig.json", "README.md", "src/config.ts", "src/wiring.ts", "src/main.ts", "dist/node.mjs"]) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true)
    }
    expect(fs.readFileSync(path.join(out, "README.md"), "utf8")).toContain("node dist/node.mjs --id n1")
    const pkg = JSON.parse(fs.readFileSync(path.join(out, "package.json"), "utf8")) as { dependencies?: unknown }
    expect(pkg.dependencies).toBeUndefined()

    // tsc --strict (the package's tsconfig) over the generated sources and the workbench code they import.
    const tsc = await run(process.execPath, [path.join(repo, "node_modules/typescript/bin/tsc"), "-p", path.join(out, "tsconfig.json")], out)
    expect(tsc.out).toBe("")
    expect(tsc.code).toBe(0)

    // The bundle alone, in a folder with no node_modules anywhere above it that it could lean on.
    const deploy = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-deploy-"))
    fs.copyFileSync(result.bundle!, path.join(deploy, "node.mjs"))
    const logs = new Map<string, string>()
    for (const m of result.members) {
      const c = spawn(process.execPath, ["node.mjs", "--id", m.id, "--seed", String(m.peerPort)], { cwd: deploy, stdio: ["ignore", "pipe", "pipe"] })
      children.push(c)
      logs.set(m.id, "")
      const add = (b: Buffer) => logs.set(m.id, logs.get(m.id)! + b.toString())
      c.stdout!.on("data", add)
      c.stderr!.on("data", add)
    }
    const first = result.members[0]!
    const last = result.members[2]!
    const url = (m: typeof first) => `http://${m.clientHost}:${m.clientPort}`
    try {
      // Poll until some node is leader and the write is accepted (generous retries: a shared, slow machine).
      let put: { action?: string } | undefined
      for (let i = 0; i < 600 && put?.action !== "set"; i++) {
        try {
          const r = await fetch(`${url(first)}/v2/keys/greeting`, { method: "PUT", body: new URLSearchParams({ value: "hello" }) })
          put = (await r.json()) as { action?: string }
        } catch {
          /* not listening yet */
        }
        if (put?.action !== "set") await sleep(100)
      }
      expect(put?.action, [...logs].map(([id, l]) => `${id}:\n${l}`).join("\n")).toBe("set")
      let got: { node?: { value?: string } } | undefined
      for (let i = 0; i < 600 && got?.node?.value !== "hello"; i++) {
        try {
          got = (await (await fetch(`${url(last)}/v2/keys/greeting`)).json()) as { node?: { value?: string } }
        } catch {
          /* retry */
        }
        if (got?.node?.value !== "hello") await sleep(100)
      }
      expect(got?.node?.value).toBe("hello")
    } finally {
      for (const c of children) c.kill("SIGKILL")
      await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once("exit", r)))))
      fs.rmSync(deploy, { recursive: true, force: true })
    }
  })
})
