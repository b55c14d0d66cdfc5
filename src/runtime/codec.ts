/**
 * Encoding values the spec produced for the wire, the disk and the event log. Most protocol schemas describe
 * plain data whose encoded form is the value itself; running Effect's generic encoder on them only validates
 * and copies — on a loaded leader, ~3 % of its main thread and a share of its JIT work. Where the schema has no
 * encoding transformation anywhere, the value is used as it is: whoever reads it decodes it with the same
 * schema (peers decode every frame, recovery every record, the validator every line), so nothing unchecked is
 * ever believed. Any other schema keeps Effect's encoder.
 */
import { Schema, SchemaAST } from "effect"

/**
 * Whether encoding with `ast` returns its input: no node it reaches has an encoding, and none is a declaration.
 * Arrays and objects must have no checks of their own either: the store writes a record's new array elements
 * alone and decodes them with the value's schema, so a check on a whole array (a minimum length) must not be
 * skipped when writing (storage.ts falls back to a full record when the encoder rejects a cut value).
 */
export const encodesAsItself = (ast: SchemaAST.AST, seen: Set<SchemaAST.AST> = new Set()): boolean => {
  if (seen.has(ast)) return true
  seen.add(ast)
  if (ast.encoding !== undefined) return false
  if (ast.checks !== undefined && (ast._tag === "Arrays" || ast._tag === "Objects")) return false
  const all = (asts: ReadonlyArray<SchemaAST.AST>) => asts.every((a) => encodesAsItself(a, seen))
  switch (ast._tag) {
    case "Declaration":
      return false
    case "Objects":
      return all(ast.propertySignatures.map((p) => p.type)) && all(ast.indexSignatures.flatMap((i) => [i.parameter, i.type]))
    case "Arrays":
      return all(ast.elements) && all(ast.rest)
    case "Union":
      return all(ast.types)
    case "Suspend":
      return encodesAsItself(ast.thunk(), seen)
    default:
      return true
  }
}

const identity = <A>(a: A): A => a

/** Encodes with `schema`: the identity where the schema encodes every value as itself, else Effect's encoder. */
export const plainEncoder = <A>(schema: Schema.Codec<A, unknown>): ((value: A) => unknown) =>
  encodesAsItself(schema.ast) ? identity : (Schema.encodeUnknownSync(schema) as (value: A) => unknown)
