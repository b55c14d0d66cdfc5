#!/usr/bin/env node
// The `quorum` command. It runs the TypeScript sources directly: tsx compiles them on load, so there is no
// build step between editing a spec and checking it.
import { fileURLToPath } from "node:url"
import { register } from "tsx/esm/api"

register({ tsconfig: fileURLToPath(new URL("../../tsconfig.json", import.meta.url)) })
await import("./main.ts")
