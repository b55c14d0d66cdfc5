// Worker threads do not inherit the parent's module hooks, so the worker registers tsx itself before
// loading its TypeScript body (as quorum.mjs does for the main thread).
import { fileURLToPath } from "node:url"
import { register } from "tsx/esm/api"

register({ tsconfig: fileURLToPath(new URL("../../tsconfig.json", import.meta.url)) })
await import("./check-worker.ts")
