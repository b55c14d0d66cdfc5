/**
 * Who wrote a trace: the tool's name and version from package.json and the git commit it runs from, so a
 * saved counterexample can be traced back to the code that found it.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The repository (package) root: this file lives in src/cli/. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

export interface ToolInfo {
  readonly name: string
  readonly version: string
}

export const toolInfo = (): ToolInfo => {
  const pkg: unknown = JSON.parse(fs.readFileSync(path.join(packageRoot, "package.json"), "utf8"))
  const field = (key: string): string => {
    const value = typeof pkg === "object" && pkg !== null ? (pkg as Record<string, unknown>)[key] : undefined
    if (typeof value !== "string") throw new Error(`package.json has no string "${key}"`)
    return value
  }
  return { name: field("name"), version: field("version") }
}

/** The commit the tool runs from, or undefined outside a git checkout (an installed package, no git). */
export const gitCommit = (): string | undefined => {
  try {
    const out = execFileSync("git", ["rev-parse", "HEAD"], { cwd: packageRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    const commit = out.trim()
    return /^[0-9a-f]{40,64}$/.test(commit) ? commit : undefined
  } catch {
    return undefined
  }
}
