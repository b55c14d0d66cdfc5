/**
 * `quorum generate raft`: writes a standalone node package for the Raft spec.
 *
 * The TypeScript is emitted with ts-morph (structures, then `save`): `src/config.ts` (the typed cluster and
 * timer settings), `src/wiring.ts` (spec + runtime → one running server), `src/main.ts` (the entrypoint), plus
 * `src/crc32c.ts` (the pure-JS CRC the bundle uses instead of the native `@node-rs/crc32`). Those sources
 * import the workbench through the path alias `quorum-workbench/*` (tsconfig `paths`), so they type-check and
 * rebuild against a workbench checkout. `dist/node.mjs` is one esbuild bundle of all of it — spec, runtime,
 * effect — and needs nothing but Node 20 at run time: that file is what a user deploys.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"
import {
  IndentationText,
  Project,
  QuoteKind,
  StructureKind,
  VariableDeclarationKind,
  type ImportDeclarationStructure,
  type OptionalKind,
  type StatementStructures,
  ts,
} from "ts-morph"
import { nodeIds } from "../../spec/kernel/protocol.ts"
import { raft } from "../../spec/raft/index.ts"
import { defaultTimings, deployableVariants, RUNTIME_VARIANT, runtimeConfig } from "../runtime/raft/config.ts"

/** The workbench checkout this module belongs to (its sources are what the package imports and bundles). */
export const workbenchRoot = fileURLToPath(new URL("../../", import.meta.url))

/** The alias under which generated sources import the workbench. */
export const ALIAS = "quorum-workbench"

export interface GenerateMember {
  readonly id: string
  readonly peerHost: string
  readonly peerPort: number
  readonly clientHost: string
  readonly clientPort: number
}

export interface GenerateOptions {
  readonly out: string
  readonly variant?: string | undefined
  readonly model?: string | undefined
  /** Number of members n1..nN (default 3), on `host`, peer ports base+i and client ports base+1000+i. */
  readonly nodes?: number | undefined
  readonly host?: string | undefined
  readonly basePort?: number | undefined
  readonly electionMs?: number | undefined
  readonly heartbeatMs?: number | undefined
  /** Skip the esbuild bundle (tests of the emitted sources only). */
  readonly bundle?: boolean | undefined
}

export interface GenerateResult {
  readonly out: string
  readonly files: ReadonlyArray<string>
  readonly bundle: string | undefined
  readonly bundleBytes: number
  readonly members: ReadonlyArray<GenerateMember>
  readonly warnings: ReadonlyArray<string>
}

/** Bad generator input (unknown variant, bad ports…): the CLI maps it to exit 2. */
export class GenerateError extends Error {
  override readonly name = "GenerateError"
}

const readJson = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>

/** The exact version the workbench pins for a package (dependencies or devDependencies). */
const pinned = (name: string): string => {
  const pkg = readJson(path.join(workbenchRoot, "package.json"))
  const deps = { ...(pkg.dependencies as Record<string, string>), ...(pkg.devDependencies as Record<string, string>) }
  const v = deps[name]
  if (v === undefined) throw new Error(`the workbench's package.json does not pin ${name}`)
  return v
}

/** `import { a, type B }`, or `import type { B }` when every name is a type (verbatimModuleSyntax keeps the rest). */
const importDecl = (moduleSpecifier: string, named: ReadonlyArray<string>, typeOnly: ReadonlyArray<string> = []): OptionalKind<ImportDeclarationStructure> =>
  named.length === 0
    ? { moduleSpecifier, isTypeOnly: true, namedImports: typeOnly.map((name) => ({ name })) }
    : { moduleSpecifier, namedImports: [...named.map((name) => ({ name })), ...typeOnly.map((name) => ({ name, isTypeOnly: true }))] }

export const generateRaftPackage = async (options: GenerateOptions): Promise<GenerateResult> => {
  const variant = options.variant ?? RUNTIME_VARIANT
  const info = raft.variants[variant]
  if (info === undefined) throw new GenerateError(`unknown variant "${variant}" for raft; valid variants: ${Object.keys(raft.variants).join(", ")}`)
  if (info.breaks !== undefined) {
    throw new GenerateError(
      `variant "${variant}" cannot be deployed: it breaks ${info.breaks.property} (${info.description}); deployable: ${deployableVariants().join(", ")}. ` +
        `Use \`quorum replay\` to watch a flawed variant fail on running nodes.`,
    )
  }
  const model = options.model ?? raft.defaultModel
  if (raft.models[model] === undefined) throw new GenerateError(`unknown model "${model}" for raft; valid models: ${Object.keys(raft.models).join(", ")}`)
  const settings = runtimeConfig(model)
  const n = options.nodes ?? 3
  if (!Number.isInteger(n) || n < 1) throw new GenerateError(`--nodes must be a whole number ≥ 1, got ${n}`)
  const host = options.host ?? "127.0.0.1"
  const basePort = options.basePort ?? 7000
  if (basePort < 1 || basePort + 1000 + n > 65535) throw new GenerateError(`--base-port ${basePort} leaves no room for ${n} peer and client ports`)
  const timings = { electionMs: options.electionMs ?? defaultTimings.electionMs, heartbeatMs: options.heartbeatMs ?? defaultTimings.heartbeatMs }
  const members: GenerateMember[] = nodeIds(n).map((id, i) => ({
    id,
    peerHost: host,
    peerPort: basePort + i + 1,
    clientHost: host,
    clientPort: basePort + 1000 + i + 1,
  }))

  const out = path.resolve(options.out)
  fs.mkdirSync(path.join(out, "src"), { recursive: true })
  // The alias points at the workbench by a relative path, so the pair can move together.
  const toWorkbench = path.relative(out, workbenchRoot).split(path.sep).join("/") || "."
  const wb = (p: string): string => `${ALIAS}/${p}`

  const project = new Project({
    useInMemoryFileSystem: false,
    skipAddingFilesFromTsConfig: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Double, useTrailingCommas: true },
  })
  const src = (name: string): string => path.join(out, "src", name)

  // ---- src/config.ts -----------------------------------------------------------------------------------
  const memberLiteral = (m: GenerateMember): string =>
    `{ id: ${JSON.stringify(m.id)}, peerHost: ${JSON.stringify(m.peerHost)}, peerPort: ${m.peerPort}, clientHost: ${JSON.stringify(m.clientHost)}, clientPort: ${m.clientPort} }`
  const configStatements: StatementStructures[] = [
    {
      kind: StructureKind.Interface,
      name: "Member",
      isExported: true,
      docs: ["One member of the cluster: where peers reach it (TCP) and where clients reach it (HTTP, etcd v2 keys API)."],
      properties: [
        { name: "id", type: "string", isReadonly: true, docs: ["The node id (letters, digits, _ and -)."] },
        { name: "peerHost", type: "string", isReadonly: true },
        { name: "peerPort", type: "number", isReadonly: true },
        { name: "clientHost", type: "string", isReadonly: true },
        { name: "clientPort", type: "number", isReadonly: true },
      ],
    },
    {
      kind: StructureKind.Interface,
      name: "Timers",
      isExported: true,
      docs: [`The spec's timers (${raft.timers.join(", ")}) as real durations.`],
      properties: [
        { name: "electionMs", type: "number", isReadonly: true, docs: ["Election timeout T: each arming of the `election` timer draws uniformly from [T, 2T] ms."] },
        { name: "heartbeatMs", type: "number", isReadonly: true, docs: ["A leader's `heartbeat` timer: how often it sends AppendEntries."] },
      ],
    },
    {
      kind: StructureKind.Interface,
      name: "NodePackageConfig",
      isExported: true,
      properties: [
        { name: "protocol", type: '"raft"', isReadonly: true },
        { name: "model", type: "string", isReadonly: true, docs: ["The bounded model whose settings the node runs with, its bounds lifted."] },
        { name: "variant", type: "string", isReadonly: true, docs: ["The variant of the spec the nodes run (one that breaks no property)."] },
        { name: "maxEntriesPerMessage", type: "number", isReadonly: true, docs: ["Entries per AppendEntries on the wire."] },
        { name: "timers", type: "Timers", isReadonly: true },
        { name: "members", type: "ReadonlyArray<Member>", isReadonly: true },
        { name: "dataDir", type: "string", isReadonly: true, docs: ["Data directory; node <id> writes <dataDir>/<id>/ (relative paths: from the working directory)."] },
      ],
    },
    {
      kind: StructureKind.VariableStatement,
      isExported: true,
      declarationKind: VariableDeclarationKind.Const,
      docs: [`Generated by \`quorum generate raft\` from model "${model}" and variant "${variant}". Edit freely, then \`npm run build\`.`],
      declarations: [
        {
          name: "config",
          type: "NodePackageConfig",
          initializer: (w) => {
            w.write("{").newLine()
            w.indent(() => {
              w.writeLine(`protocol: "raft",`)
              w.writeLine(`model: ${JSON.stringify(model)},`)
              w.writeLine(`variant: ${JSON.stringify(variant)},`)
              w.writeLine(`maxEntriesPerMessage: ${settings.maxEntriesPerMessage},`)
              w.writeLine(`timers: { electionMs: ${timings.electionMs}, heartbeatMs: ${timings.heartbeatMs} },`)
              w.writeLine("members: [")
              w.indent(() => members.forEach((m) => w.writeLine(`${memberLiteral(m)},`)))
              w.writeLine("],")
              w.writeLine(`dataDir: "./data",`)
            })
            w.write("}")
          },
        },
      ],
    },
  ]
  project.createSourceFile(src("config.ts"), { statements: configStatements }, { overwrite: true })

  // ---- src/wiring.ts -----------------------------------------------------------------------------------
  project.createSourceFile(
    src("wiring.ts"),
    {
      leadingTrivia: [
        "/**",
        " * The wiring of spec to runtime: the workbench's Raft spec (spec/raft) hosted by its runtime — durable storage,",
        " * the TCP transport between members and the etcd v2 keys API over HTTP — configured from ./config.ts.",
        " */",
        "",
      ].join("\n"),
      statements: [
        { kind: StructureKind.ImportDeclaration, ...importDecl(wb("spec/kernel/protocol.ts"), ["nodeId"], ["NodeId"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl(wb("src/runtime/host.ts"), [], ["Logger"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl(wb("src/runtime/tcp.ts"), [], ["Address"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl(wb("src/runtime/raft/server.ts"), ["ConfigError", "startRaftServer"], ["RunningServer"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl("./config.ts", ["config"], ["Member", "NodePackageConfig"]) },
        {
          kind: StructureKind.Interface,
          name: "StartOptions",
          isExported: true,
          properties: [
            { name: "id", type: "string", isReadonly: true, docs: ["Which member this process is."] },
            { name: "dir", type: "string", isReadonly: true, hasQuestionToken: true, docs: ["Data directory (default: the config's)."] },
            { name: "seed", type: "number", isReadonly: true, docs: ["Seed of the election-timeout PRNG."] },
            { name: "events", type: "boolean", isReadonly: true, docs: ["Write <dir>/<id>/events.ndjson."] },
            { name: "logger", type: "Logger", isReadonly: true },
          ],
        },
        {
          kind: StructureKind.Function,
          name: "memberOf",
          isExported: true,
          docs: ["The member named `id`, or a ConfigError naming the valid ids."],
          parameters: [
            { name: "id", type: "string" },
            { name: "cfg", type: "NodePackageConfig", initializer: "config" },
          ],
          returnType: "Member",
          statements: [
            "const m = cfg.members.find((x) => x.id === id)",
            'if (m === undefined) throw new ConfigError(`--id ${id} is not a member; members: ${cfg.members.map((x) => x.id).join(", ")}`)',
            "return m",
          ],
        },
        {
          kind: StructureKind.Function,
          name: "startNode",
          isExported: true,
          isAsync: true,
          docs: ["Starts member `options.id`: recovers its durable state, connects to its peers and serves clients."],
          parameters: [
            { name: "options", type: "StartOptions" },
            { name: "cfg", type: "NodePackageConfig", initializer: "config" },
          ],
          returnType: "Promise<RunningServer>",
          statements: [
            "const self = memberOf(options.id, cfg)",
            "const peers = new Map<NodeId, Address>(cfg.members.map((m) => [nodeId(m.id), { host: m.peerHost, port: m.peerPort }]))",
            "const clientUrls = new Map<NodeId, string>(cfg.members.map((m) => [nodeId(m.id), `http://${m.clientHost}:${m.clientPort}`]))",
            `return startRaftServer({
  id: nodeId(self.id),
  peers,
  clientUrls,
  clientHost: self.clientHost,
  clientPort: self.clientPort,
  dir: options.dir ?? cfg.dataDir,
  seed: options.seed,
  variant: cfg.variant,
  timings: { electionMs: cfg.timers.electionMs, heartbeatMs: cfg.timers.heartbeatMs, coalesceMs: ${defaultTimings.coalesceMs} },
  events: options.events,
  logger: options.logger,
})`,
          ],
        },
      ],
    },
    { overwrite: true },
  )

  // ---- src/main.ts -------------------------------------------------------------------------------------
  project.createSourceFile(
    src("main.ts"),
    {
      leadingTrivia: [
        "/**",
        " * Entrypoint: runs one Raft node until SIGINT or SIGTERM, then stops cleanly.",
        " *",
        " *   node dist/node.mjs --id n1 [--dir ./data] [--seed N] [--no-events]",
        " */",
        "",
      ].join("\n"),
      statements: [
        { kind: StructureKind.ImportDeclaration, moduleSpecifier: "node:util", namedImports: ["parseArgs"] },
        { kind: StructureKind.ImportDeclaration, ...importDecl(wb("src/runtime/host.ts"), [], ["Logger"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl(wb("src/runtime/raft/server.ts"), ["ConfigError"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl("./config.ts", ["config"]) },
        { kind: StructureKind.ImportDeclaration, ...importDecl("./wiring.ts", ["startNode"]) },
        {
          kind: StructureKind.Function,
          name: "logger",
          docs: ["Log lines on stdout: time, level, message."],
          returnType: "Logger",
          statements: [
            "const line = (level: string, message: string): void => void process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${level}${message}\\n`)",
            'return { info: (m) => line("", m), warn: (m) => line("warn ", m), error: (m) => line("error ", m) }',
          ],
        },
        {
          kind: StructureKind.Function,
          name: "main",
          isAsync: true,
          returnType: "Promise<number>",
          statements: [
            `const { values } = parseArgs({
  options: {
    id: { type: "string" },
    dir: { type: "string" },
    seed: { type: "string" },
    "no-events": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
  strict: true,
})`,
            `const usage = \`usage: node dist/node.mjs --id <\${config.members.map((m) => m.id).join("|")}> [--dir DIR] [--seed N] [--no-events]\``,
            "if (values.help) {\n  process.stdout.write(usage + \"\\n\")\n  return 0\n}",
            "if (values.id === undefined) {\n  process.stderr.write(`error: --id is required\\n${usage}\\n`)\n  return 2\n}",
            "const seed = values.seed === undefined ? (Math.random() * 0x7fffffff) | 0 : Number(values.seed)",
            "if (!Number.isSafeInteger(seed)) {\n  process.stderr.write(`error: --seed must be an integer\\n`)\n  return 2\n}",
            "const log = logger()",
            `let server
try {
  server = await startNode({ id: values.id, seed, events: !values["no-events"], logger: log, ...(values.dir === undefined ? {} : { dir: values.dir }) })
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(\`error: \${e.message}\\n\`)
    return 2
  }
  if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") {
    log.error(\`\${(e as Error).message}: another process uses this port\`)
    return 2
  }
  throw e
}`,
            "log.info(`seed ${seed} (repeat with --seed ${seed}) · election timeout ${config.timers.electionMs}-${2 * config.timers.electionMs} ms · heartbeat ${config.timers.heartbeatMs} ms`)",
            "const running = server",
            `await new Promise<void>((resolve) => {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    log.info(\`\${signal}: stopping\`)
    void running.stop().then(resolve)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
})`,
            'log.info("stopped")',
            'return typeof process.exitCode === "number" ? process.exitCode : 0',
          ],
        },
        "process.exitCode = await main()",
      ],
    },
    { overwrite: true },
  )

  // ---- src/crc32c.ts: the pure-JS stand-in for the native @node-rs/crc32 -------------------------------------
  project.createSourceFile(src("crc32c.ts"), fs.readFileSync(fileURLToPath(new URL("./crc32c.ts", import.meta.url)), "utf8"), { overwrite: true })

  for (const f of project.getSourceFiles()) f.formatText({ indentSize: 2, convertTabsToSpaces: true, semicolons: ts.SemicolonPreference.Remove })
  await project.save()

  // ---- package.json, tsconfig.json, build.mjs, README.md -------------------------------------------------
  const write = (name: string, text: string): void => fs.writeFileSync(path.join(out, name), text)
  write(
    "package.json",
    JSON.stringify(
      {
        name: "quorum-raft-node",
        version: "0.1.0",
        private: true,
        description: "One node of a Raft cluster serving the etcd v2 keys API, generated by `quorum generate raft`",
        type: "module",
        bin: { "quorum-raft-node": "dist/node.mjs" },
        engines: { node: ">=20" },
        scripts: { start: "node dist/node.mjs", typecheck: "tsc -p tsconfig.json", build: "node build.mjs" },
        devDependencies: { esbuild: pinned("esbuild"), typescript: pinned("typescript"), "@types/node": pinned("@types/node") },
      },
      null,
      2,
    ) + "\n",
  )
  write(
    "tsconfig.json",
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noUncheckedIndexedAccess: true,
          noImplicitOverride: true,
          noFallthroughCasesInSwitch: true,
          verbatimModuleSyntax: true,
          allowImportingTsExtensions: true,
          noEmit: true,
          skipLibCheck: true,
          lib: ["ES2022"],
          types: ["node"],
          typeRoots: [`${toWorkbench}/node_modules/@types`],
          paths: { [`${ALIAS}/*`]: [`${toWorkbench}/*`] },
        },
        include: ["src"],
      },
      null,
      2,
    ) + "\n",
  )
  write("build.mjs", buildScript(toWorkbench))
  write("README.md", readme({ model, variant, members, timings, toWorkbench }))
  write(".gitignore", "data/\nnode_modules/\n")

  let bundle: string | undefined
  let bundleBytes = 0
  if (options.bundle !== false) {
    bundle = path.join(out, "dist", "node.mjs")
    await bundleNode({ entry: src("main.ts"), outfile: bundle, workbench: workbenchRoot, crc32c: src("crc32c.ts") })
    bundleBytes = fs.statSync(bundle).size
  }
  const files = ["package.json", "tsconfig.json", "build.mjs", "README.md", ".gitignore", "src/config.ts", "src/wiring.ts", "src/main.ts", "src/crc32c.ts"]
  if (bundle !== undefined) files.push("dist/node.mjs")
  return { out, files, bundle, bundleBytes, members, warnings: [] }
}

/** The esbuild options both `generate` and the package's own build.mjs use (kept in step by hand). */
export const bundleNode = async (o: { entry: string; outfile: string; workbench: string; crc32c: string }): Promise<void> => {
  const workbench = path.resolve(o.workbench)
  await esbuild.build({
    entryPoints: [o.entry],
    outfile: o.outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    legalComments: "none",
    logLevel: "silent",
    banner: {
      js: '#!/usr/bin/env node\n// Generated by `quorum generate raft` (esbuild bundle of the package, the workbench spec and runtime, and effect).\nimport { createRequire as __quorumCreateRequire } from "node:module";\nconst require = __quorumCreateRequire(import.meta.url);',
    },
    plugins: [
      {
        name: "quorum-workbench",
        setup(build) {
          build.onResolve({ filter: new RegExp(`^${ALIAS}/`) }, (args) => ({ path: path.join(workbench, args.path.slice(ALIAS.length + 1)) }))
          // The native CRC addon cannot be bundled: use the pure-JS implementation with the same results.
          build.onResolve({ filter: /^@node-rs\/crc32$/ }, () => ({ path: path.resolve(o.crc32c) }))
        },
      },
    ],
  })
  fs.chmodSync(o.outfile, 0o755)
}

const buildScript = (toWorkbench: string): string => `// Rebuilds dist/node.mjs from src/ (needs \`npm install\` here and the workbench at ${toWorkbench}).
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const here = path.dirname(fileURLToPath(import.meta.url))
const workbench = path.resolve(here, process.env.QUORUM_WORKBENCH ?? ${JSON.stringify(toWorkbench)})

await esbuild.build({
  entryPoints: [path.join(here, "src/main.ts")],
  outfile: path.join(here, "dist/node.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  legalComments: "none",
  nodePaths: [path.join(workbench, "node_modules")],
  banner: {
    js: '#!/usr/bin/env node\\nimport { createRequire as __quorumCreateRequire } from "node:module";\\nconst require = __quorumCreateRequire(import.meta.url);',
  },
  plugins: [
    {
      name: "quorum-workbench",
      setup(build) {
        build.onResolve({ filter: /^${ALIAS}\\// }, (args) => ({ path: path.join(workbench, args.path.slice(${ALIAS.length + 1})) }))
        build.onResolve({ filter: /^@node-rs\\/crc32$/ }, () => ({ path: path.join(here, "src/crc32c.ts") }))
      },
    },
  ],
})
console.log("wrote dist/node.mjs")
`

const readme = (o: {
  model: string
  variant: string
  members: ReadonlyArray<GenerateMember>
  timings: { electionMs: number; heartbeatMs: number }
  toWorkbench: string
}): string => {
  const first = o.members[0]!
  const last = o.members.at(-1)!
  const table = o.members.map((m) => `| \`${m.id}\` | ${m.peerHost}:${m.peerPort} | http://${m.clientHost}:${m.clientPort} |`).join("\n")
  return `# A Raft node, generated by \`quorum generate raft\`

One node of a ${o.members.length}-member Raft cluster that serves the **etcd v2 keys API**. The protocol is the
Quorum Workbench's Raft spec (model \`${o.model}\`, variant \`${o.variant}\`) — the same handlers the model
checker explored — hosted on TCP between members, durable storage on disk and HTTP for clients.

## Run a node

\`dist/node.mjs\` is a single self-contained file: it needs Node.js 20 or later and nothing else (no
\`npm install\`, no workbench). The one command:

\`\`\`
node dist/node.mjs --id ${first.id}
\`\`\`

Options: \`--dir DIR\` (data directory, default \`./data\`; the node writes \`DIR/<id>/\`), \`--seed N\` (the
election-timeout PRNG; printed at start), \`--no-events\` (do not write \`DIR/<id>/events.ndjson\`). SIGINT or
SIGTERM stops it cleanly. Copy \`dist/node.mjs\` to each machine and run it there with that machine's id.

## A cluster of ${o.members.length}

The members, their peer (TCP) and client (HTTP) addresses are in \`src/config.ts\`:

| id | peer | client |
|---|---|---|
${table}

Start each in its own terminal (or with \`&\`), from this folder:

\`\`\`
${o.members.map((m) => `node dist/node.mjs --id ${m.id}`).join("\n")}
\`\`\`

Within a second or so they elect a leader. Any member serves the keys API; writes on a follower go to the leader:

\`\`\`
curl -XPUT http://${first.clientHost}:${first.clientPort}/v2/keys/greeting -d value=hello
curl http://${last.clientHost}:${last.clientPort}/v2/keys/greeting
curl http://${first.clientHost}:${first.clientPort}/quorum/status
\`\`\`

Also served: POST (in-order keys), DELETE, \`?wait=true\` watches, \`prevValue\`/\`prevIndex\`/\`prevExist\`,
\`/v2/members\`, \`/v2/machines\`, \`/health\`, \`/version\`.

## Settings

\`src/config.ts\` is typed (\`NodePackageConfig\`): the members, the data directory and the timers —
election timeout T = ${o.timings.electionMs} ms (each one drawn from [T, 2T]) and heartbeat ${o.timings.heartbeatMs} ms.
Change it, then rebuild the bundle.

## Sources and rebuilding

- \`src/config.ts\` settings · \`src/wiring.ts\` spec → runtime · \`src/main.ts\` entrypoint ·
  \`src/crc32c.ts\` a pure-JS CRC-32C used in the bundle instead of the native \`@node-rs/crc32\` addon (same values,
  so data directories are interchangeable with \`quorum node\`).
- The sources import the workbench as \`${ALIAS}/…\`, mapped by \`tsconfig.json\` \`paths\` to \`${o.toWorkbench}\`
  (the checkout that generated this folder). To type-check or rebuild, keep that checkout there (or set
  \`QUORUM_WORKBENCH=/path/to/checkout\` for the build and edit \`paths\`):

\`\`\`
npm install          # esbuild, typescript, @types/node (exact versions)
npm run typecheck    # tsc --strict, no emit
npm run build        # esbuild → dist/node.mjs
\`\`\`
`
}
