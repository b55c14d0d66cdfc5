/**
 * `quorum generate raft [--variant V] [--model M] --out DIR [--nodes N] [--host H] [--base-port P]
 * [--election-ms T] [--heartbeat-ms H]`: writes a standalone node package (src/generate/README.md) and prints
 * the one command that starts a node.
 */
import * as path from "node:path"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { ExitCode } from "./exit-codes.ts"
import { UsageError } from "./resolve.ts"

export interface GenerateCommandOptions {
  readonly protocol: string
  readonly out: string
  readonly variant: string | undefined
  readonly model: string | undefined
  readonly nodes: number
  readonly host: string
  readonly basePort: number
  readonly electionMs: number | undefined
  readonly heartbeatMs: number | undefined
}

export const generateCommand = async (o: GenerateCommandOptions): Promise<number> => {
  if (o.protocol !== "raft") throw new UsageError(`quorum generate supports "raft" (ZAB nodes are not available yet), not "${o.protocol}"`)
  // Loaded here, not at the top: it brings ts-morph and esbuild, ~29 MB of heap that every `quorum` process —
  // a running node's garbage collector included — would otherwise carry.
  const { GenerateError, generateRaftPackage } = await import("../generate/raft-package.ts")
  let result
  try {
    result = await generateRaftPackage({
      out: o.out,
      variant: o.variant,
      model: o.model,
      nodes: o.nodes,
      host: o.host,
      basePort: o.basePort,
      electionMs: o.electionMs,
      heartbeatMs: o.heartbeatMs,
    })
  } catch (e) {
    if (e instanceof GenerateError) throw new UsageError(e.message)
    throw e
  }
  const out = process.stdout
  const relative = path.relative(process.cwd(), result.out)
  const rel = relative === "" ? "." : relative.startsWith("..") ? result.out : relative
  out.write(`wrote a Raft node package to ${rel}/\n`)
  for (const f of result.files) out.write(`  ${f}${f === "dist/node.mjs" ? ` (${Math.round(result.bundleBytes / 1024)} KiB, self-contained: Node.js ≥ 20 only)` : ""}\n`)
  out.write(`start a node:   cd ${rel} && node dist/node.mjs --id ${result.members[0]!.id}\n`)
  out.write(`a cluster:      ${result.members.map((m) => `node dist/node.mjs --id ${m.id}`).join(" & ")}\n`)
  const first = result.members[0]!
  const last = result.members.at(-1)!
  out.write(`then:           curl -XPUT http://${first.clientHost}:${first.clientPort}/v2/keys/a -d value=1 ; curl http://${last.clientHost}:${last.clientPort}/v2/keys/a\n`)
  return ExitCode.ok
}

const positive = (name: string) =>
  Flag.Int(name).pipe(
    Flag.filter(
      (n) => n >= 1,
      () => "a whole number ≥ 1",
    ),
  )

const exitWith = (body: () => Promise<number>) =>
  Effect.tryPromise({ try: body, catch: (error) => error }).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
  )

export const generateCli = Command.make(
  "generate",
  {
    protocol: Argument.String("protocol").pipe(Argument.withDescription("The protocol to generate a node for (raft)")),
    out: Flag.String("out").pipe(Flag.withDescription("Directory to write the package to (created if missing)")),
    variant: Flag.String("variant").pipe(Flag.withDescription("Variant of the spec the nodes run (default: parallel-append; only variants that break no property can be deployed)"), Flag.optional),
    model: Flag.String("model").pipe(Flag.withDescription("Model whose settings the node runs with, bounds lifted (default: the protocol's default)"), Flag.optional),
    nodes: positive("nodes").pipe(Flag.withDescription("Cluster size: members n1..nN"), Flag.withDefault(3)),
    host: Flag.String("host").pipe(Flag.withDescription("Address of every member (edit src/config.ts for more)"), Flag.withDefault("127.0.0.1")),
    basePort: Flag.Int("base-port").pipe(
      Flag.filter(
        (n) => n >= 1 && n <= 64000,
        () => "a port number",
      ),
      Flag.withDescription("Member i listens for peers on base+i and for clients on base+1000+i"),
      Flag.withDefault(7000),
    ),
    electionMs: positive("election-ms").pipe(Flag.withDescription("Election timeout T: each one is drawn from [T, 2T] ms (default 300)"), Flag.optional),
    heartbeatMs: positive("heartbeat-ms").pipe(Flag.withDescription("Leader heartbeat interval in ms (default 50)"), Flag.optional),
  },
  (input) =>
    exitWith(() =>
      generateCommand({
        protocol: input.protocol,
        out: input.out,
        variant: Option.getOrUndefined(input.variant),
        model: Option.getOrUndefined(input.model),
        nodes: input.nodes,
        host: input.host,
        basePort: input.basePort,
        electionMs: Option.getOrUndefined(input.electionMs),
        heartbeatMs: Option.getOrUndefined(input.heartbeatMs),
      }),
    ),
).pipe(
  Command.withDescription("Write a standalone node package: typed TypeScript sources (ts-morph) and one bundled runnable file"),
  Command.withExamples([{ command: "quorum generate raft --out /tmp/raft-node", description: "Then: cd /tmp/raft-node && node dist/node.mjs --id n1" }]),
)
