/**
 * The agenda with CLIPS 6.30's default depth strategy: one agenda per module, activations
 * grouped by salience (highest first), and within a salience group the newest activation
 * first (every activation gets a larger time tag than all before it, so depth placement is
 * always "at the head of its salience group").
 */
import type { ActivationRef, PartialMatch, RuleRef } from "./model.js"

/** A rule instance ready to fire. */
export class Activation implements ActivationRef {
  prev: Activation | null = null
  next: Activation | null = null
  group: SalienceGroup | null = null
  constructor(
    readonly rule: RuleRef,
    readonly basis: PartialMatch,
    readonly salience: number,
    readonly timetag: number
  ) {}
}

/** The activations of one salience value in one module, newest first. */
class SalienceGroup {
  head: Activation | null = null
  tail: Activation | null = null
  constructor(readonly salience: number) {}
}

/** One module's agenda. */
export class ModuleAgenda {
  /** Groups in decreasing salience. */
  private readonly groups: Array<SalienceGroup> = []
  size = 0

  /** Inserts at the head of its salience group (depth strategy). */
  add(act: Activation): void {
    let idx = 0
    while (idx < this.groups.length && this.groups[idx]!.salience > act.salience) idx++
    let g = this.groups[idx]
    if (g === undefined || g.salience !== act.salience) {
      g = new SalienceGroup(act.salience)
      this.groups.splice(idx, 0, g)
    }
    act.group = g
    act.prev = null
    act.next = g.head
    if (g.head !== null) g.head.prev = act
    else g.tail = act
    g.head = act
    this.size++
  }

  /** Removes an activation. */
  remove(act: Activation): void {
    const g = act.group
    if (g === null) return
    if (act.prev !== null) act.prev.next = act.next
    else g.head = act.next
    if (act.next !== null) act.next.prev = act.prev
    else g.tail = act.prev
    act.prev = null
    act.next = null
    act.group = null
    this.size--
    if (g.head === null) {
      const i = this.groups.indexOf(g)
      if (i >= 0) this.groups.splice(i, 1)
    }
  }

  /** The activation that fires next, or null. */
  top(): Activation | null {
    for (const g of this.groups) if (g.head !== null) return g.head
    return null
  }

  /** All activations in firing order. */
  list(): Array<Activation> {
    const out: Array<Activation> = []
    for (const g of this.groups) for (let a = g.head; a !== null; a = a.next) out.push(a)
    return out
  }

  clear(): void {
    for (const g of this.groups) {
      for (let a = g.head; a !== null; ) {
        const n: Activation | null = a.next
        a.prev = null
        a.next = null
        a.group = null
        a = n
      }
    }
    this.groups.length = 0
    this.size = 0
  }
}
