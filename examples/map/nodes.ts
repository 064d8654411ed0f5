/** Node functions for examples/map: a child that scores one document, a parent that sums the scores. */

/** The child: how many of the document's words mention the topic (case-insensitive). */
export const score = (state: { readonly document: string; readonly topic: string }) => ({
  score: state.document.toLowerCase().split(/\W+/).filter((word) => word !== "" && word === state.topic.toLowerCase()).length
})

/** The parent: a one-line report over the scores, which the map node wrote in document order. */
export const report = (state: { readonly documents: ReadonlyArray<string>; readonly scores: ReadonlyArray<number> }) => ({
  report: `${state.scores.reduce((a, b) => a + b, 0)} mentions in ${state.documents.length} documents: ${state.scores.join(", ")}`
})
