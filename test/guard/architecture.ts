/**
 * Mechanical check of the dependency directions and the determinism of spec/ (DESIGN, "Dependency
 * directions"). Syntax only: no type information is needed, which keeps it fast enough for every `npm test`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Node, Project, SyntaxKind } from "ts-morph"
import type { SourceFile } from "ts-morph"

export interface Violation {
  /** Repo-relative, with forward slashes. */
  readonly file: string
  readonly line: number
  readonly rule: RuleName
  readonly message: string
}

export type RuleName =
  | "spec-external-module"
  | "spec-nondeterminism"
  | "spec-dynamic-import"
  | "spec-protocol-isolation"
  | "layer-direction"
  | "no-test-import"

const layers = ["spec", "checker", "traces", "src"] as const

const timeHint = "take time as an event instead"
const randomHint = "take randomness as an input chosen by the host or checker instead"
const timerHint = "return SetTimer/CancelTimer effects instead"
const ioHint = "take it as input; I/O belongs in src/"

/** Globals a spec may not touch, with what to do instead. */
const forbiddenGlobals: ReadonlyMap<string, string> = new Map([
  ["Date", timeHint],
  ["performance", timeHint],
  ["crypto", randomHint],
  ["setTimeout", timerHint],
  ["setInterval", timerHint],
  ["setImmediate", timerHint],
  ["clearTimeout", timerHint],
  ["clearInterval", timerHint],
  ["queueMicrotask", "handlers are synchronous; return effects instead"],
  ["console", "return data (state, effects) and let the host log it"],
  ["process", ioHint],
  ["require", ioHint],
  ["fetch", ioHint],
  ["globalThis", ioHint],
])

/** Every violation in the .ts files under spec/, checker/, traces/ and src/ of `rootDir`. */
export const findViolations = (rootDir: string): Violation[] => {
  // ts-morph reports real paths; resolve the root the same way so relative names line up.
  const root = fs.realpathSync(path.resolve(rootDir)).split(path.sep).join("/")
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    skipLoadingLibFiles: true,
    compilerOptions: { allowJs: false },
  })
  project.addSourceFilesAtPaths([...layers.map((layer) => `${root}/${layer}/**/*.ts`), `!${root}/**/node_modules/**`])

  const violations: Violation[] = []
  for (const sourceFile of project.getSourceFiles()) {
    const file = path.posix.relative(root, sourceFile.getFilePath())
    const report = (node: Node, rule: RuleName, what: string, why: string): void => {
      const line = node.getStartLineNumber()
      violations.push({ file, line, rule, message: `${file}:${line} ${what} — ${why} [${rule}]` })
    }
    for (const ref of moduleReferences(sourceFile)) {
      const problem = checkImport(file, ref.specifier)
      if (problem !== undefined) report(ref.node, problem.rule, `imports "${ref.specifier}"`, problem.why)
    }
    if (layerOf(file) === "spec") checkDeterminism(sourceFile, report)
  }
  return violations.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
}

interface ModuleReference {
  readonly node: Node
  readonly specifier: string
}

/** Static imports, re-exports, `import x = require(…)`, `import("…")` calls and `import("…")` types. */
const moduleReferences = (sourceFile: SourceFile): ModuleReference[] => {
  const refs: ModuleReference[] = []
  const add = (node: Node, literal: Node | undefined): void => {
    if (Node.isStringLiteral(literal) || Node.isNoSubstitutionTemplateLiteral(literal)) {
      refs.push({ node, specifier: literal.getLiteralValue() })
    }
  }
  for (const decl of sourceFile.getImportDeclarations()) add(decl, decl.getModuleSpecifier())
  for (const decl of sourceFile.getExportDeclarations()) add(decl, decl.getModuleSpecifier())
  sourceFile.forEachDescendant((node) => {
    if (Node.isImportEqualsDeclaration(node)) {
      const reference = node.getModuleReference()
      if (Node.isExternalModuleReference(reference)) add(node, reference.getExpression())
    } else if (Node.isCallExpression(node) && node.getExpression().getKind() === SyntaxKind.ImportKeyword) {
      add(node, node.getArguments()[0])
    } else if (Node.isImportTypeNode(node)) {
      const argument = node.getArgument()
      if (Node.isLiteralTypeNode(argument)) add(node, argument.getLiteral())
    }
  })
  return refs
}

const layerOf = (file: string): string => file.split("/")[0] ?? ""

/** The folder directly under spec/ ("kernel", "raft"…), or "" for a file at the root of spec/. */
const specAreaOf = (file: string): string => {
  const parts = file.split("/")
  return parts.length > 2 ? (parts[1] ?? "") : ""
}

const checkImport = (from: string, specifier: string): { rule: RuleName; why: string } | undefined => {
  const fromLayer = layerOf(from)
  const isPath = specifier.startsWith(".") || specifier.startsWith("/")
  if (!isPath) {
    if (fromLayer === "spec" && specifier !== "effect") {
      return {
        rule: "spec-external-module",
        why: 'spec/ may import only plain "effect" (for Schema) and spec/kernel; move I/O and runtime code to src/',
      }
    }
    return undefined
  }
  // Repo-relative target; "../…" when it leaves the repository.
  const target = path.posix.normalize(
    specifier.startsWith("/") ? path.posix.relative("/", specifier) : path.posix.join(path.posix.dirname(from), specifier),
  )
  const toLayer = layerOf(target)
  if (toLayer === "test") {
    return { rule: "no-test-import", why: "production code never imports test/; move the shared piece out of test/" }
  }
  switch (fromLayer) {
    case "spec":
      if (toLayer !== "spec") {
        return { rule: "layer-direction", why: "spec/ imports only spec/kernel; pass what it needs in as data" }
      }
      return checkProtocolIsolation(specAreaOf(from), specAreaOf(target))
    case "checker":
      if (toLayer === "src") {
        return { rule: "layer-direction", why: "checker/ may import spec/ and traces/, never src/" }
      }
      return undefined
    case "traces":
      if (toLayer === "checker" || toLayer === "src") {
        return { rule: "layer-direction", why: "traces/ may import spec/ only, never checker/ or src/" }
      }
      return undefined
    default:
      return undefined
  }
}

/** Protocols see only the kernel and themselves; the kernel sees only itself; spec/'s root files see all. */
const checkProtocolIsolation = (fromArea: string, toArea: string): { rule: RuleName; why: string } | undefined => {
  if (fromArea === "" || toArea === fromArea) return undefined
  if (fromArea === "kernel") {
    return {
      rule: "spec-protocol-isolation",
      why: `spec/kernel must not depend on ${toArea === "" ? "the root of spec/" : `spec/${toArea}`}`,
    }
  }
  if (toArea === "kernel") return undefined
  return {
    rule: "spec-protocol-isolation",
    why: `spec/${fromArea} may import only spec/kernel and itself; move the shared piece to spec/kernel`,
  }
}

const checkDeterminism = (
  sourceFile: SourceFile,
  report: (node: Node, rule: RuleName, what: string, why: string) => void,
): void => {
  const deterministic = "spec handlers must be deterministic"
  sourceFile.forEachDescendant((node) => {
    if (Node.isIdentifier(node)) {
      const hint = forbiddenGlobals.get(node.getText())
      if (hint !== undefined && isReference(node)) {
        report(node, "spec-nondeterminism", `uses ${node.getText()}`, `${deterministic}; ${hint}`)
      }
    } else if (
      Node.isPropertyAccessExpression(node) &&
      node.getName() === "random" &&
      node.getExpression().getText() === "Math"
    ) {
      report(node, "spec-nondeterminism", "uses Math.random", `${deterministic}; ${randomHint}`)
    } else if (Node.isCallExpression(node) && node.getExpression().getKind() === SyntaxKind.ImportKeyword) {
      report(node, "spec-dynamic-import", "uses import()", `${deterministic}; import statically from spec/kernel instead`)
    }
  })
}

/** False for an identifier that only names something: `x.Date`, `{ Date: 1 }`, `const Date = …`, `A.Date`. */
const isReference = (id: Node): boolean => {
  const parent = id.getParent()
  if (parent === undefined) return true
  // `{ console }` names a property and reads the variable.
  if (Node.isShorthandPropertyAssignment(parent)) return true
  if (Node.isQualifiedName(parent)) return parent.getLeft() === id
  if (Node.isBindingElement(parent) && parent.getPropertyNameNode() === id) return false
  return !(Node.hasName(parent) && parent.getNameNode() === id)
}
