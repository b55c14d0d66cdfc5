/**
 * The body of a replayed node process: one `Replica` driven over IPC by the replaying scheduler.
 *
 *   parent → child  {kind:"init", protocol, model, variant, self, nodes, dir}   (answered like an op, seq 0)
 *                   {kind:"op", seq, op: ReplicaOp}
 *   child → parent  {kind:"send", to, json}        a message left (its persists are durable)
 *                   {kind:"event", line}           one NDJSON event line of the host
 *                   {kind:"done", seq, refused?, snapshot}   after the op, once quiesced
 *                   {kind:"error", message}
 *
 * IPC keeps order, so every `send` of an op reaches the parent before that op's `done`. A crash is SIGKILL.
 */
import type { NodeId } from "../../spec/kernel/protocol.ts"
import { protocols } from "../../spec/registry.ts"
import { Replica, type ReplicaOp } from "./replica.ts"
import { forwardEvents } from "../runtime/events.ts"

interface Init {
  readonly kind: "init"
  readonly protocol: string
  readonly model: string
  readonly variant: string
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  readonly dir: string
}

type Inbound = Init | { readonly kind: "op"; readonly seq: number; readonly op: ReplicaOp }

const post = (m: unknown): void => {
  process.send?.(m)
}

let replica: Replica | undefined
let chain: Promise<void> = Promise.resolve()

process.on("message", (raw) => {
  const m = raw as Inbound
  chain = chain
    .then(async () => {
      if (m.kind === "init") {
        const protocol = protocols[m.protocol]
        if (protocol === undefined) throw new Error(`unknown protocol ${m.protocol}`)
        replica = new Replica({
          protocol,
          model: m.model,
          variant: m.variant,
          self: m.self,
          nodes: m.nodes,
          dir: m.dir,
          onSend: (to, json) => post({ kind: "send", to, json }),
          events: forwardEvents((line) => post({ kind: "event", line })),
        })
        post({ kind: "done", seq: 0, snapshot: await replica.start() })
        return
      }
      if (replica === undefined) throw new Error("op before init")
      const r = await replica.apply(m.op)
      post({ kind: "done", seq: m.seq, ...r })
    })
    .catch((e: unknown) => post({ kind: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }))
})
// The parent going away ends this node.
process.on("disconnect", () => process.exit(0))
