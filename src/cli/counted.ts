/** A count with its noun, singular for one: `1 edge`, `2 edges`, `1 entry`, `3 entries`. */
export const counted = (n: number, singular: string, plural = `${singular}s`): string => `${n} ${n === 1 ? singular : plural}`
