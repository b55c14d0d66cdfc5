// Worker threads do not inherit the parent's module hooks, so the worker registers tsx itself before
// loading its TypeScript body.
import { fileURLToPath } from "node:url"
import { register } from "tsx/esm/api"

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) })
await import("./parallel-worker.ts")
