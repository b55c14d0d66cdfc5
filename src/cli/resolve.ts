/**
 * From command-line names to a checkable instance: the protocol, its model and its variant, with messages
 * that name the valid choices when a name is wrong.
 */
import { Schema } from "effect"
import type { AnyProtocol, ModelConfig } from "../../spec/kernel/protocol.ts"
import { protocols } from "../../spec/registry.ts"

/** Bad usage or bad input: the user can fix it, and the CLI exits with 2. */
export class UsageError extends Error {
  override readonly name = "UsageError"
}

const choices = (names: ReadonlyArray<string>): string => names.join(", ")

export interface Selection {
  readonly protocol: AnyProtocol
  readonly modelName: string
  readonly model: ModelConfig<unknown>
  readonly variantName: string
}

export const resolveProtocol = (name: string): AnyProtocol => {
  const protocol = protocols[name]
  if (protocol === undefined) {
    throw new UsageError(`unknown protocol "${name}"; valid protocols: ${choices(Object.keys(protocols))}`)
  }
  return protocol
}

/**
 * Picks the model and variant. A flawed variant names the model that shows its flaw, so `--variant` alone
 * checks that model; otherwise the protocol's default model is used.
 */
export const resolveSelection = (
  protocolName: string,
  modelName: string | undefined,
  variantName: string | undefined,
): Selection => {
  const protocol = resolveProtocol(protocolName)
  const variant = variantName ?? protocol.defaultVariant
  const info = protocol.variants[variant]
  if (info === undefined) {
    throw new UsageError(`unknown variant "${variant}" for ${protocol.name}; valid variants: ${choices(Object.keys(protocol.variants))}`)
  }
  const chosenModel = modelName ?? (variantName !== undefined ? info.breaks?.model : undefined) ?? protocol.defaultModel
  const model = protocol.models[chosenModel]
  if (model === undefined) {
    throw new UsageError(`unknown model "${chosenModel}" for ${protocol.name}; valid models: ${choices(Object.keys(protocol.models))}`)
  }
  try {
    Schema.decodeUnknownSync(protocol.schemas.config)(model.config)
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    throw new UsageError(`model "${chosenModel}" of ${protocol.name} has an invalid config:\n${detail}`)
  }
  return { protocol, modelName: chosenModel, model, variantName: variant }
}
