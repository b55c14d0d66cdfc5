/**
 * Time as a service: the real clock for processes, a simulated one for deterministic tests. The host only
 * ever asks for `now()` and one-shot timers, so a test can drive every timeout by hand.
 */

export interface TimerHandle {
  readonly id: number
}

export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/**
 * Node's timers. A delay of 0 runs at the end of this turn of the event loop (setImmediate: after every I/O
 * callback already due, so work arriving together is handled together) rather than Node's setTimeout minimum
 * of 1 ms, which a write would otherwise pay on each hop.
 */
export const realClock = (): Clock => {
  const live = new Map<number, { readonly cancel: () => void }>()
  let next = 1
  return {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      const id = next++
      if (ms <= 0) {
        const i = setImmediate(() => {
          live.delete(id)
          fn()
        })
        live.set(id, { cancel: () => clearImmediate(i) })
      } else {
        const t = setTimeout(() => {
          live.delete(id)
          fn()
        }, ms)
        live.set(id, { cancel: () => clearTimeout(t) })
      }
      return { id }
    },
    clearTimeout(handle) {
      live.get(handle.id)?.cancel()
      live.delete(handle.id)
    },
  }
}

/** Lets every pending promise continuation run (a macrotask boundary drains the microtask queue). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * A simulated clock: timers fire only inside `advance`, in deadline order (ties in the order they were set),
 * and after each one every promise continuation runs before the next timer — so a whole cluster runs
 * deterministically from its seed.
 */
export class SimClock implements Clock {
  private time = 0
  private seq = 0
  private readonly queue = new Map<number, { at: number; seq: number; fn: () => void }>()

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq
    this.queue.set(id, { at: this.time + Math.max(0, ms), seq: id, fn })
    return { id }
  }

  clearTimeout(handle: TimerHandle): void {
    this.queue.delete(handle.id)
  }

  get pending(): number {
    return this.queue.size
  }

  private nextDue(limit: number): { id: number; at: number; fn: () => void } | undefined {
    let best: { id: number; at: number; seq: number; fn: () => void } | undefined
    for (const [id, t] of this.queue) {
      if (t.at > limit) continue
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = { id, ...t }
    }
    return best
  }

  /** Runs every timer due within `ms` from now, settling promises after each; ends at now + ms. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms
    await settle()
    for (;;) {
      const t = this.nextDue(target)
      if (t === undefined) break
      this.queue.delete(t.id)
      this.time = t.at
      t.fn()
      await settle()
    }
    this.time = target
  }
}
