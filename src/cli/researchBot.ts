/**
 * The `research-bot` starting point of `stargraph new research-bot`, as the original's: an
 * authoring-format graph (no `ir_version`) in which a brief is written from the question
 * and the judge's last gaps, a `react` agent researches it with web search and page
 * reads, and a judge grades the answer; rules route on the judge's verdict.
 */

/** The name `stargraph new` writes this template for. */
export const RESEARCH_BOT = "research-bot"

/** The template's text. */
export const researchBotYaml = `# research-bot: a research agent with a completeness judge that sends it back with the
# gaps it found. Written in the authoring format (the short form): see what it becomes
# with \`stargraph compile research-bot.yaml --show-clips\`.
#
# Run it on a model and a search backend (a SearXNG instance on this machine), letting
# the agent's tools reach the public web (a bare net.fetch) and the local search host
# (a host on this machine must be named):
#   STARGRAPH_SEARCH_URL=http://127.0.0.1:8888 \\
#   STARGRAPH_CAPABILITIES='net.fetch net.fetch:http://127.0.0.1:8888/*' \\
#     stargraph run research-bot.yaml --lm-url http://127.0.0.1:11434/v1 --lm-model llama3.1 \\
#     --inputs question="what does a durable graph runtime record?"
id: research-bot
state:
  question: str
  brief: str
  answer: str
  rationale: str
  score: str
  tool_trace: list
  verdict: {type: str, route: true}     # route: true: the rules can see it
nodes:
  brief:
    kind: template
    template: "{question}\\n\\nGaps the judge found (none on the first pass):\\n{rationale}"
    out: brief
  research: {kind: react, input: brief, tools: [std.web_search, std.fetch_page], max_iters: 8}
  judge:
    kind: judge
    input: answer
    rubric: "Answers the question completely, with specific facts and their sources."
routes:
  judge: {fail: brief, pass: done}      # fail: write the brief again with the gaps; pass: halt
`
