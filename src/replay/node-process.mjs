// A replayed node as its own OS process (forked by runtime-replay.ts with IPC). Child processes do not
// inherit the parent's module hooks, so this registers tsx before loading the TypeScript body, as quorum.mjs does.
import { fileURLToPath } from "node:url"
import { register } from "tsx/esm/api"

register({ tsconfig: fileURLToPath(new URL("../../tsconfig.json", import.meta.url)) })
await import("./node-process.ts")
