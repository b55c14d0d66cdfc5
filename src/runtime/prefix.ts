/**
 * How many leading elements two arrays share — the same objects, position by position — remembered, so that
 * the state digest and the durable store do not each scan a long log once per step.
 *
 * A scan's result is kept for the newer array (its base, held weakly, and the count). Asked again about that
 * array and its base — or a base further back along those links — the answer comes from the links: a and c
 * share at least min(shared(a, b), shared(b, c)) leading elements. That may be less than the truth (never
 * more), which both callers accept: they only reuse what a shared prefix lets them reuse.
 */

interface Link {
  readonly base: WeakRef<ReadonlyArray<unknown>>
  readonly shared: number
}

const links = new WeakMap<ReadonlyArray<unknown>, Link>()

/** Links followed before falling back to a scan (a leader's group commit can be a few steps behind). */
const MAX_HOPS = 16

const scan = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): number => {
  const limit = Math.min(a.length, b.length)
  let k = 0
  while (k < limit && a[k] === b[k]) k++
  return k
}

/** A lower bound of the number of leading elements `a` and `b` share; exact when it had to scan. */
export const sharedPrefix = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): number => {
  if (a === b) return a.length
  let k = Math.min(a.length, b.length)
  let x: ReadonlyArray<unknown> | undefined = a
  for (let hops = 0; hops < MAX_HOPS && x !== undefined; hops++) {
    const link: Link | undefined = links.get(x)
    if (link === undefined) break
    k = Math.min(k, link.shared)
    x = link.base.deref()
    if (x === b) return k
  }
  const n = scan(a, b)
  links.set(a, { base: new WeakRef(b), shared: n })
  return n
}
