/**
 * "Did you mean": the known name closest to a misspelt one, for errors that name an
 * unknown field (`state_shema` → `state_schema`, `feilds` → `fields`).
 */

/**
 * Edit distance between `a` and `b` counting an insertion, a deletion, a substitution and
 * a swap of two neighbouring characters as one edit each (optimal string alignment).
 */
export const editDistance = (a: string, b: string): number => {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: Array<number> = Array.from({ length: rows * cols }, (_, i) => (i < cols ? i : i % cols === 0 ? i / cols : 0))
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1)
      d[i * cols + j] = best
    }
  }
  return d[rows * cols - 1]!
}

/**
 * The candidate `name` was most likely meant as: the closest by {@link editDistance}, when
 * it is within two edits and less than half the name's length away (so `id` does not
 * suggest `ir`); ties go to the first candidate. Undefined when none is that close, or
 * when `name` is itself a candidate.
 */
export const closestName = (name: string, candidates: ReadonlyArray<string>): string | undefined => {
  if (candidates.includes(name)) return undefined
  const folded = name.toLowerCase()
  let best: { readonly name: string; readonly distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(folded, candidate.toLowerCase())
    if (best === undefined || distance < best.distance) best = { name: candidate, distance }
  }
  return best !== undefined && best.distance <= 2 && best.distance * 2 < name.length ? best.name : undefined
}

/**
 * The allowed value `value` was most likely meant as: {@link closestName}, else the one
 * allowed value it begins (`int` → `integer`, at least three characters). Undefined when
 * none is that close, or `value` is itself allowed.
 */
export const closestChoice = (value: string, allowed: ReadonlyArray<string>): string | undefined => {
  const close = closestName(value, allowed)
  if (close !== undefined || allowed.includes(value) || value.length < 3) return close
  const folded = value.toLowerCase()
  const starts = allowed.filter((a) => a.toLowerCase().startsWith(folded))
  return starts.length === 1 ? starts[0] : undefined
}

/** `did you mean 'total'? ` when a candidate is {@link closestName} to `name`, else nothing. */
export const didYouMean = (name: string, candidates: ReadonlyArray<string>): string => {
  const meant = closestName(name, candidates)
  return meant !== undefined ? `did you mean '${meant}'? ` : ""
}
