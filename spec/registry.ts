/** Every protocol the workbench knows, by name. */
import type { AnyProtocol } from "./kernel/protocol.ts"
import { raft } from "./raft/index.ts"
import { fle } from "./zab/fle/index.ts"
import { zab } from "./zab/index.ts"

export const protocols: Readonly<Record<string, AnyProtocol>> = { raft, fle, zab }
